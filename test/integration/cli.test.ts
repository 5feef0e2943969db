/** The command line against the fake tenant, with the real clients. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli";
import { FakeTenant } from "../fake-tenant/server";
import { loadScenario } from "../fake-tenant/scenario";
import { FIXTURES } from "../helpers";

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
    const code = await main(["replay", INCIDENT], fake.settings());
    expect(code).toBe(0);
    expect(out).toContain("Outcome: remediated; closed: yes");
    expect(out).toContain('"Finance Analysts"');
    expect(err).toContain("replaying incident cd74f139-de83-4f06-b21f-dc0331924736");
    expect(fake.incidents.get("cd74f139-de83-4f06-b21f-dc0331924736")?.status).toBe("Closed");
  });

  it("--json prints the JSON summary; --dry-run changes nothing and exits 3", async () => {
    const code = await main(["replay", INCIDENT, "--dry-run", "--json"], fake.settings());
    expect(code).toBe(3);
    const summary = JSON.parse(out);
    expect(summary).toMatchObject({ outcome: "dry-run", dryRun: true, closed: false });
    expect(summary.wouldReprocess).toHaveLength(1);
    expect(fake.reprocessed.size).toBe(0);
  });

  it("reads settings from a local.settings.json with --settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cli-"));
    const file = join(dir, "local.settings.json");
    writeFileSync(file, JSON.stringify({ IsEncrypted: false, Values: fake.settings() }));
    expect(await main(["replay", INCIDENT, "--settings", file], {})).toBe(0);
  });

  it("exits 1 when a reprocess fails", async () => {
    fake.addFault({ service: "graph", method: "POST", path: "/reprocess$", status: 500, times: 0 });
    expect(await main(["replay", INCIDENT], fake.settings())).toBe(1);
    expect(out).toContain("Outcome: failed");
  });

  it("exits 2 on bad usage, a missing file, bad input or bad settings", async () => {
    expect(await main([], fake.settings())).toBe(2);
    expect(await main(["replay"], fake.settings())).toBe(2);
    expect(await main(["replay", INCIDENT, "--bogus"], fake.settings())).toBe(2);
    expect(await main(["replay", join(FIXTURES, "missing.json")], fake.settings())).toBe(2);
    expect(err).toContain("Cannot read");
    expect(await main(["replay", join(FIXTURES, "scenarios", "demo.json")], fake.settings())).toBe(2);
    expect(err).toContain("InvalidIncident");
    expect(await main(["replay", INCIDENT], {})).toBe(2);
    expect(err).toContain("SENTINEL_SUBSCRIPTION_ID is required");
    expect(fake.requests).toHaveLength(0);
  });

  it("--help prints usage and exits 0", async () => {
    expect(await main(["--help"])).toBe(0);
    expect(out).toContain("Usage: access-package-remediation replay");
  });
});
