/** The sweeper against the fake tenant: incidents whose webhook never arrived still get remediated. */
import { afterEach, describe, expect, it } from "vitest";
import { stableId } from "../../src/core/report";
import { sweepOpenIncidents } from "../../src/core/sweep";
import { FakeTenant } from "../fake-tenant/server";
import { captureLog, depsFor, RULE_ID, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function tenantWithIncidents() {
  const t = new TenantBuilder();
  const user = t.user("u");
  t.assign(user, t.accessPackage("P", []));
  const old1 = t.incident({ accounts: [user] });
  const old2 = t.incident({ accounts: [user] });
  const young = t.incident({ accounts: [user] });
  const otherRule = t.incident({ accounts: [user], ruleIds: ["0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab"] });
  const closed = t.incident({ accounts: [user], status: "Closed" });
  const ages: Record<string, number> = { [old1]: 60, [old2]: 30, [young]: 2, [otherRule]: 45, [closed]: 90 };
  for (const i of t.scenario.incidents) i.createdMinutesAgo = ages[i.name];
  return { t, old1, old2, young, otherRule, closed };
}

describe("sweeper", () => {
  it("remediates open incidents of the configured rules past the grace period, and no others", async () => {
    const { t, old1, old2, young, otherRule, closed } = tenantWithIncidents();
    fake = await FakeTenant.start({ scenario: t.scenario });
    const log = captureLog();

    const result = await sweepOpenIncidents(depsFor(fake, { SENTINEL_RULE_IDS: RULE_ID }), log, { graceMs: 10 * 60_000, maxPerRun: 20 });

    expect(result.remediated.sort()).toEqual([old1, old2].sort());
    expect(result.skipped).toEqual([otherRule]);
    expect(result.failed).toEqual([]);
    expect(fake.incidents.get(old1)?.status).toBe("Closed");
    expect(fake.incidents.get(young)?.status).toBe("New");
    expect(fake.incidents.get(otherRule)?.status).toBe("New");
    expect(fake.incidents.get(closed)?.comments.size).toBe(0);
    expect(log.lines.join("\n")).toContain("remediated 2");
  });

  it("is bounded per run, oldest first", async () => {
    const { t, old1 } = tenantWithIncidents();
    fake = await FakeTenant.start({ scenario: t.scenario });

    const result = await sweepOpenIncidents(depsFor(fake, { SENTINEL_RULE_IDS: RULE_ID }), captureLog(), { graceMs: 10 * 60_000, maxPerRun: 1 });

    expect(result.remediated).toEqual([old1]);
  });

  it("leaves alone incidents left open on purpose (their comment says why)", async () => {
    const { t, old1, old2 } = tenantWithIncidents();
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.incidents.get(old1)?.comments.set(stableId(old1, "nothing-to-reprocess"), { message: "m", createdTimeUtc: "", lastModifiedTimeUtc: "", etag: "" });

    const result = await sweepOpenIncidents(depsFor(fake, { SENTINEL_RULE_IDS: RULE_ID }), captureLog(), { graceMs: 10 * 60_000, maxPerRun: 20 });

    expect(result.remediated).toEqual([old2]);
    expect(result.skipped).toContain(old1);
    expect(fake.reprocessed.size).toBe(1);
  });

  it("retries incidents whose earlier remediation failed, and reports ones that fail again", async () => {
    const { t, old1 } = tenantWithIncidents();
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.addFault({ service: "graph", method: "POST", path: "/reprocess$", status: 500, times: 0 });
    const deps = depsFor(fake, { SENTINEL_RULE_IDS: RULE_ID });

    const first = await sweepOpenIncidents(deps, captureLog(), { graceMs: 10 * 60_000, maxPerRun: 20 });
    fake.clearFaults();
    const second = await sweepOpenIncidents(deps, captureLog(), { graceMs: 10 * 60_000, maxPerRun: 20 });

    expect(first.failed).toContain(old1);
    expect(second.remediated).toContain(old1);
    expect(fake.incidents.get(old1)?.status).toBe("Closed");
  });

  it("does nothing without SENTINEL_RULE_IDS", async () => {
    const { t } = tenantWithIncidents();
    fake = await FakeTenant.start({ scenario: t.scenario });
    const log = captureLog();

    const result = await sweepOpenIncidents(depsFor(fake), log);

    expect(result.candidates).toBe(0);
    expect(fake.requests.filter((r) => r.service !== "login")).toHaveLength(0);
    expect(log.lines.join("\n")).toContain("SENTINEL_RULE_IDS is empty");
  });
});
