/**
 * No token, client secret or credential ever appears in logs, responses or incident comments:
 * a full run (success, failure, dry run, CLI) with the Azure SDK's own logging at its most
 * verbose, every byte written to stdout/stderr and every log line captured.
 */
import { AzureLogger, setLogLevel } from "@azure/logger";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, depsFor, FIXTURES, settingsFor, TenantBuilder } from "../helpers";
import { loadScenario } from "../fake-tenant/scenario";

const captured: string[] = [];
let fake: FakeTenant;
let demo: FakeTenant;

beforeAll(async () => {
  setLogLevel("verbose");
  AzureLogger.log = (...args: unknown[]) => captured.push(args.map(String).join(" "));
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, "write").mockImplementation((chunk) => {
      captured.push(String(chunk));
      return true;
    });
  }
});
afterAll(async () => {
  vi.restoreAllMocks();
  setLogLevel("warning");
  await fake?.close();
  await demo?.close();
});

describe("secrets stay out of every output", () => {
  it("across success, failure, dry run and the CLI", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const ok = t.incident({ accounts: [user], groups: [g] });
    const denied = t.incident({ accounts: [user], groups: [g] });
    const dry = t.incident({ accounts: [user], groups: [g] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const outputs: unknown[] = [];
    const run = async (incident: string, extra: Record<string, string> = {}) => {
      const res = await callWebhook(depsFor(fake, extra), fake.triggerBody(incident));
      outputs.push(res.body, res.logs);
      return res;
    };
    expect((await run(ok)).status).toBe(200);
    fake.addFault({ service: "graph", status: 403, times: 0, path: "/assignments$" });
    expect((await run(denied)).status).toBe(502);
    fake.clearFaults();
    fake.addFault({ service: "arm", status: 401, times: 1, path: "/entities$" });
    expect((await run(dry, { REMEDIATION_MODE: "dry-run" })).status).toBe(502);
    expect((await run(dry, { REMEDIATION_MODE: "dry-run" })).status).toBe(200);

    demo = await FakeTenant.start({ scenario: loadScenario(join(FIXTURES, "scenarios", "demo.json")) });
    expect(await main(["replay", join(FIXTURES, "incident-trigger.json"), "--json"], settingsFor(demo))).toBe(0);

    const comments = [...fake.incidents.values(), ...demo.incidents.values()].flatMap((i) =>
      [...i.comments.values()].map((c) => c.message),
    );
    const everything = [JSON.stringify(outputs), ...captured, ...comments].join("\n");
    const secrets = [fake.clientSecret, demo.clientSecret, ...fake.issuedTokens(), ...demo.issuedTokens()];

    expect(fake.issuedTokens().length).toBeGreaterThan(0);
    expect(captured.length).toBeGreaterThan(10); // the SDK's verbose logging did run
    for (const secret of secrets) {
      expect(everything).not.toContain(secret);
      // Not even a recognisable piece of one.
      expect(everything).not.toContain(secret.slice(-24));
    }
    expect(everything).not.toMatch(/Bearer [A-Za-z0-9_-]{20,}/);
  });
});
