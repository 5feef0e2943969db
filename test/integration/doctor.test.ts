/**
 * `access-package-remediation doctor` against the fake tenant with the real clients: every check
 * passes on a healthy deployment, and each one fails alone, naming the fix, when its dependency
 * refuses. The webhook checks call a loopback server that answers as a well or badly guarded
 * webhook would.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli";
import { runDoctor, type Check } from "../../src/core/doctor";
import type { FaultInput } from "../fake-tenant/scenario";
import { FakeTenant } from "../fake-tenant/server";
import { loadScenario } from "../fake-tenant/scenario";
import { depsFor, FIXTURES, RULE_ID, settingsFor, TenantBuilder } from "../helpers";
import { join } from "node:path";

let fake: FakeTenant | undefined;
let server: Server | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  await new Promise((ok) => (server ? server.close(ok) : ok(undefined)));
  server = undefined;
  vi.restoreAllMocks();
});

const never = new AbortController().signal;
const PLAYBOOK =
  "/subscriptions/3db968d7-cad1-4856-a953-89d2160c03a5/resourceGroups/rg-app/providers/Microsoft.Logic/workflows/pb-remediation";

/** A deployment as infra/ makes it: the rule, the automation rule running the playbook, users and groups. */
async function healthy(extra: Partial<TenantBuilder["scenario"]> = {}) {
  const t = new TenantBuilder();
  t.removal("adele");
  fake = await FakeTenant.start({
    scenario: {
      ...t.scenario,
      riskyUsers: [],
      alertRules: [{ id: RULE_ID }],
      automationRules: [{ displayName: "Restore access package access", ruleIds: [RULE_ID], playbookId: PLAYBOOK }],
      ...extra,
    },
  });
  return fake;
}

const failed = (checks: Check[]) => checks.filter((c) => !c.ok).map((c) => `${c.check} | ${c.fix ?? ""}`);

describe("doctor", () => {
  it("passes every check on a healthy deployment; the CLI prints the table and exits 0", async () => {
    const f = await healthy();
    const checks = await runDoctor(depsFor(f), never);
    expect(failed(checks)).toEqual([]);
    expect(checks.map((c) => c.check)).toEqual(
      expect.arrayContaining([
        "Sentinel: incidents readable",
        `Sentinel: rule ${RULE_ID} exists`,
        `Sentinel: rule ${RULE_ID}: an automation rule runs the playbook`,
        "Graph: users readable",
        "Graph: a user's account readable (account check)",
        "Graph: groups readable",
        "Graph: group members readable (delivery check)",
        "Graph: group owners readable (ownership check)",
        "Graph: reprocess allowed",
        "Graph: risky users readable (risk check)",
        "Graph: access package assignments readable",
        "state table: write, read and delete a probe row",
      ]),
    );

    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await main(["doctor"], settingsFor(f))).toBe(0);
    expect(out.join("")).toMatch(/^PASS {2}Sentinel: incidents readable/m);
    expect(out.join("")).toContain("checks passed.");
  });

  it("passes every check at home: the demo scenario npm run fake-tenant serves", async () => {
    fake = await FakeTenant.start({ scenario: loadScenario(join(FIXTURES, "scenarios", "demo.json")) });
    const checks = await runDoctor(depsFor(fake), never);
    expect(failed(checks)).toEqual([]);
    expect(checks.length).toBeGreaterThanOrEqual(12);
  });

  const refusals: [string, FaultInput, RegExp, RegExp][] = [
    [
      "incidents",
      { service: "arm", method: "GET", path: "/incidents$", status: 403, times: 0 },
      /^Sentinel: incidents readable/,
      /Microsoft Sentinel Responder/,
    ],
    [
      "automation rules",
      { service: "arm", method: "GET", path: "/automationRules$", status: 403, times: 0 },
      /^Sentinel: automation rules readable/,
      /Microsoft Sentinel Responder/,
    ],
    [
      "users",
      { service: "graph", method: "GET", path: "^/v1.0/users/[^/]+$", status: 403, times: 0 },
      /^Graph: a user's account readable/,
      /User\.Read\.All/,
    ],
    [
      "memberships",
      { service: "graph", method: "GET", path: "/members$", status: 403, times: 0 },
      /^Graph: group members readable/,
      /GroupMember\.Read\.All/,
    ],
    [
      "owners",
      { service: "graph", method: "GET", path: "/owners$", status: 403, times: 0 },
      /^Graph: group owners readable/,
      /GroupMember\.Read\.All.*group-list-owners/,
    ],
    [
      "reprocess calls",
      { service: "graph", method: "POST", path: "/reprocess$", status: 403, times: 0 },
      /^Graph: reprocess allowed/,
      /EntitlementManagement\.ReadWrite\.All.*accesspackageassignment-reprocess/,
    ],
    [
      "risky users",
      { service: "graph", method: "GET", path: "/riskyUsers$", status: 403, times: 0 },
      /^Graph: risky users readable/,
      /IDENTITY_PROTECTION_CHECK=off.*IdentityRiskyUser\.Read\.All/,
    ],
    [
      "assignments",
      { service: "graph", method: "GET", path: "/assignments$", status: 403, times: 0 },
      /^Graph: access package assignments readable/,
      /EntitlementManagement\.ReadWrite\.All/,
    ],
  ];
  for (const [what, fault, check, fix] of refusals) {
    it(`names the fix when ${what} are refused, and only that check fails`, async () => {
      const f = await healthy();
      f.addFault(fault);
      const bad = failed(await runDoctor(depsFor(f), never));
      expect(bad).toHaveLength(1);
      expect(bad[0]).toMatch(check);
      expect(bad[0]).toMatch(fix);
    });
  }

  it("a missing rule, a rule with no automation, and every rule disabled each fail with their fix", async () => {
    const missing = failed(await runDoctor(depsFor(await healthy({ alertRules: [] })), never));
    expect(missing).toEqual([
      expect.stringMatching(/^Sentinel: rule .*\| fix SENTINEL_RULE_IDS/),
      expect.stringMatching(/^Sentinel: an enabled rule in SENTINEL_RULE_IDS/),
    ]);
    await fake?.close();
    const unrun = failed(await runDoctor(depsFor(await healthy({ automationRules: [] })), never));
    expect(unrun).toEqual([expect.stringMatching(/an automation rule runs the playbook \| deploy the automation rule/)]);
    await fake?.close();
    const disabled = failed(await runDoctor(depsFor(await healthy({ alertRules: [{ id: RULE_ID, enabled: false }] })), never));
    expect(disabled).toEqual([expect.stringMatching(/^Sentinel: an enabled rule in SENTINEL_RULE_IDS \| enable the detection rule/)]);
  });

  it("catalog-scoped mode checks the role on each catalog", async () => {
    const HR = "7d1f0c3e-2a4b-4c5d-8e6f-a7b8c9d0e1f2";
    const FINANCE = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    const t = new TenantBuilder();
    const user = t.user("adele");
    t.assign(user, t.accessPackage("HR", [t.group("sg-HR")], { catalogId: HR }));
    const f = await healthy({ ...t.scenario, catalogScope: [HR] });
    const checks = await runDoctor(depsFor(f, { ACCESS_PACKAGE_CATALOG_IDS: `${HR},${FINANCE}` }), never);
    expect(failed(checks)).toEqual([
      expect.stringMatching(new RegExp(`^Graph: catalog ${FINANCE}: .*grant-catalog-role\\.sh.*"Catalog reader"`)),
    ]);
    // The tenant-wide permission is neither held nor asked for.
    expect(checks.map((c) => c.check)).not.toContain("Graph: access package assignments readable");
  });

  it("an identity granted less than the deployment grants fails each check whose documented permission is missing", async () => {
    const f = await healthy({ graphRoles: ["EntitlementManagement.ReadWrite.All", "User.Read.All", "IdentityRiskyUser.Read.All"] });
    const bad = failed(await runDoctor(depsFor(f), never));
    expect(bad).toEqual([
      expect.stringMatching(/^Graph: groups readable .*GroupMember\.Read\.All/),
      expect.stringMatching(/^Graph: group members readable .*GroupMember\.Read\.All/),
      expect.stringMatching(/^Graph: group owners readable .*GroupMember\.Read\.All/),
    ]);
  });

  it("a state table it cannot reach fails with the Azurite hint", async () => {
    const f = await healthy();
    const bad = failed(
      await runDoctor(
        depsFor(
          f,
          {
            STATE_TABLE_CONNECTION:
              "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;",
          },
          { requestTimeoutMs: 1_000, attempts: 1 },
        ),
        never,
      ),
    );
    expect(bad).toEqual([expect.stringMatching(/^state table: write, read and delete a probe row \|.*npx azurite/)]);
  });

  it("--webhook: passes when both calls are refused, fails when one gets through", async () => {
    const f = await healthy();
    let answer = 401;
    server = createServer((req, res) => {
      req.resume();
      // A badly guarded webhook trusts the principal header.
      res.writeHead(req.headers["x-ms-client-principal-id"] && answer === 200 ? 200 : 401).end();
    });
    await new Promise<void>((ok) => server?.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/remediateIncident`;

    const guarded = await runDoctor(depsFor(f), never, { webhook: url });
    expect(failed(guarded)).toEqual([]);
    expect(guarded.filter((c) => c.check.startsWith("webhook:")).map((c) => c.detail)).toEqual(["refused with 401", "refused with 401"]);

    answer = 200;
    const open = failed(await runDoctor(depsFor(f), never, { webhook: url }));
    expect(open).toEqual([expect.stringMatching(/^webhook: a forged principal header is refused \| set WEBHOOK_ALLOWED_CALLER/)]);
  });
});

describe("the fake tenant enforces Graph's documented permissions", () => {
  it("refuses /users/{id}/memberOf to the deployment's grants (its page names Directory.Read.All) and serves it with that permission", async () => {
    const t = new TenantBuilder();
    const { user, group } = t.member("adele");
    t.scenario.groups.find((g) => g.id === group)?.members?.push(user);
    const memberOf = (f: FakeTenant) =>
      depsFor(f).graph.probe("list memberships", `/users/${user}/memberOf?$select=id`, "Directory.Read.All", never);
    fake = await FakeTenant.start({ scenario: t.scenario });
    await expect(memberOf(fake)).rejects.toThrow(/403.*Directory\.Read\.All|Directory\.Read\.All.*403/);
    await fake.close();
    fake = await FakeTenant.start({ scenario: { ...t.scenario, graphRoles: ["Directory.Read.All"] } });
    await expect(memberOf(fake)).resolves.toEqual([group]);
  });
});
