/** The command line against the fake tenant, with the real clients. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli";
import { FakeTenant } from "../fake-tenant/server";
import { loadScenario } from "../fake-tenant/scenario";
import { FIXTURES, settingsFor } from "../helpers";

const INCIDENT = join(FIXTURES, "incident-trigger.json");
let fake: FakeTenant;
let out: string;
let err: string;

beforeEach(async () => {
  fake = await FakeTenant.start({ scenario: loadScenario(join(FIXTURES, "scenarios", "demo.json")) });
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await fake.close();
});

describe("cli replay", () => {
  it("remediates the sample incident, prints a readable summary and exits 0", async () => {
    const code = await main(["replay", INCIDENT], settingsFor(fake));
    expect(code).toBe(0);
    expect(out).toContain("Outcome: remediated; closed: yes");
    expect(out).toContain('"Finance Analysts"');
    // Steps and decision records only with --verbose.
    expect(err).not.toContain("AccessPackageRemediation.Decision");
    expect(err).not.toContain("replaying incident");
  });

  it("--verbose prints each step and the decision record on stderr", async () => {
    const code = await main(["replay", INCIDENT, "--verbose"], settingsFor(fake));
    expect(code).toBe(0);
    expect(err).toContain("replaying incident cd74f139-de83-4f06-b21f-dc0331924736");
    expect(err).toContain("to reprocess");
    expect(err).toContain("AccessPackageRemediation.Decision {");
    expect(fake.incidents.get("cd74f139-de83-4f06-b21f-dc0331924736")?.status).toBe("Closed");
  });

  it("--json prints the JSON summary; --dry-run changes nothing and exits 3", async () => {
    const code = await main(["replay", INCIDENT, "--dry-run", "--json"], settingsFor(fake));
    expect(code).toBe(3);
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({ outcome: "dry-run", dryRun: true, closed: false });
    expect(summary.wouldReprocess).toHaveLength(1);
    expect(fake.reprocessed.size).toBe(0);
  });

  it("reads settings from a local.settings.json with --settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const file = join(dir, "local.settings.json");
    writeFileSync(file, JSON.stringify({ IsEncrypted: false, Values: settingsFor(fake) }));
    expect(await main(["replay", INCIDENT, "--settings", file], {})).toBe(0);
  });

  it("exits 1 when a reprocess fails", async () => {
    fake.addFault({ service: "graph", method: "POST", path: "/reprocess$", status: 500, times: 0 });
    expect(await main(["replay", INCIDENT], settingsFor(fake))).toBe(1);
    expect(out).toContain("Outcome: failed");
  });

  it("exits 2 on bad usage, a missing file, bad input or bad settings", async () => {
    expect(await main([], settingsFor(fake))).toBe(2);
    expect(await main(["replay"], settingsFor(fake))).toBe(2);
    expect(await main(["replay", INCIDENT, "--bogus"], settingsFor(fake))).toBe(2);
    expect(await main(["replay", join(FIXTURES, "missing.json")], settingsFor(fake))).toBe(2);
    expect(err).toContain(`UnreadableFile: Cannot read ${join(FIXTURES, "missing.json")} (the incident trigger body): no such file`);
    expect(await main(["replay", INCIDENT, "--settings", join(FIXTURES, "nope.json")], settingsFor(fake))).toBe(2);
    expect(err).toContain("(a local.settings.json): no such file");
    expect(await main(["repaly", INCIDENT], settingsFor(fake))).toBe(2);
    expect(err).toContain('Unknown command "repaly".');
    expect(await main(["replay", join(FIXTURES, "scenarios", "demo.json")], settingsFor(fake))).toBe(2);
    expect(err).toContain("InvalidIncident");
    expect(await main(["replay", INCIDENT], {})).toBe(2);
    expect(err).toContain("SENTINEL_SUBSCRIPTION_ID is required");
    expect(fake.requests).toHaveLength(0);
  });

  it("exits 3 for an incident a safety check holds (user at risk), reprocessing nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const file = join(dir, "held.json");
    writeFileSync(file, JSON.stringify(fake.triggerBody("5b0e7d2a-3c41-4b8e-9f6a-2d7c8e1f4a90")));
    expect(await main(["replay", file], settingsFor(fake))).toBe(3);
    expect(out).toContain("Outcome: held; closed: no");
    expect(out).toMatch(/Held by safety checks \(1\):\n {2}- grady\.archie@contoso\.example .*risk state atRisk, level high \[risk\]/);
    expect(fake.reprocessed.size).toBe(0);
  });

  it("sweep runs the sweeper once now and prints what it did", async () => {
    const settings = settingsFor(fake, { MAX_USERS_RESTORED_PER_HOUR: "10" });
    // The demo incidents are new: left to their webhook until the grace has passed, and said so.
    expect(await main(["sweep", "--json"], settings)).toBe(0);
    const summary = JSON.parse(out) as { ours: number; recent: string[]; ran: object };
    expect(summary).toMatchObject({ ran: {}, failed: [] });
    expect(summary.ours).toBeGreaterThan(0);
    expect(summary.recent).toHaveLength(summary.ours);
    out = "";
    expect(await main(["sweep"], settings)).toBe(0);
    expect(out).toContain(`left to their webhook (younger than 10 minutes): ${summary.ours}; --include-recent runs them now`);
    out = "";
    expect(await main(["sweep", "--include-recent", "--json"], settings)).toBe(0);
    expect((JSON.parse(out) as { ran: { remediated?: string[] } }).ran.remediated?.length).toBeGreaterThan(0);
    out = "";
    expect(await main(["sweep", "extra"], settings)).toBe(2);
  });

  it("--help prints usage and exits 0", async () => {
    expect(await main(["--help"])).toBe(0);
    expect(out).toContain("Usage: access-package-remediation replay");
  });
});
