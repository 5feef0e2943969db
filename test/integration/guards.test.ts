/**
 * The safety checks end to end: each guard (and the combinations that matter) through the real
 * handler, Graph client, ARM SDK and credential against the fake tenant, with the state table in
 * Azurite. A held incident is left New with a comment naming the reason; nothing is restored for a
 * held user; every decision is in the summary, the comment and the log.
 */
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, captureLog, commentsOf, depsFor, RULE_ID, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const never = new AbortController().signal;
const OTHER_RULE = "0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab";

const graphCalls = (f: FakeTenant) => f.requests.filter((r) => r.service === "graph");
const holdsOf = (body: { decisions: { guard: string; result: string; userId?: string }[] }) =>
  body.decisions.filter((d) => d.result === "hold").map((d) => (d.userId ? `${d.guard}:${d.userId}` : d.guard));

/** Held: 200 "held", left New, nothing reprocessed, the reason in the comment and in the log. */
function expectHeld(f: FakeTenant, incident: string, res: Awaited<ReturnType<typeof callWebhook>>, reason: string | RegExp) {
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ outcome: "held", closed: false, reprocessed: [] });
  expect(f.reprocessed.size).toBe(0);
  expect(f.incidents.get(incident)?.status).not.toBe("Closed");
  expect(commentsOf(f, incident)).toMatch(reason);
  expect(res.logs.join("\n")).toMatch(reason);
}

describe("act only on the removal rule's own incidents", () => {
  it("holds an incident merged with a Defender for Identity alert, reading nothing from Graph", async () => {
    const t = new TenantBuilder();
    const m = t.member("adele");
    const inc = t.incident({ accounts: [m.user], groups: [m.group], productNames: ["Azure Sentinel", "Microsoft Defender for Identity"] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expectHeld(fake, inc, res, /incident holds alerts of other rules or products \(alerts from Microsoft Defender for Identity\)/);
    expect(holdsOf(res.body)).toEqual(["alerts"]);
    expect(graphCalls(fake)).toHaveLength(0);
  });

  it("holds an incident that merged the removal rule's alert with another rule's", async () => {
    const t = new TenantBuilder();
    const m = t.member("adele");
    const inc = t.incident({ accounts: [m.user], groups: [m.group], ruleIds: [RULE_ID, OTHER_RULE] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expectHeld(fake, inc, res, new RegExp(`rule\\(s\\) not in SENTINEL_RULE_IDS or SENTINEL_OWNER_RULE_IDS: ${OTHER_RULE}`));
  });

  it("holds an Active incident: an analyst is on it", async () => {
    const t = new TenantBuilder();
    const m = t.member("adele");
    const inc = t.incident({ accounts: [m.user], groups: [m.group], status: "Active" });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expectHeld(fake, inc, res, /incident is Active: an analyst is on it/);
    expect(fake.incidents.get(inc)?.status).toBe("Active");
  });

  it("holds an incident with the hold label, whatever its case; the label's name is a setting", async () => {
    const t = new TenantBuilder();
    const m = t.member("adele");
    const standard = t.incident({ accounts: [m.user], groups: [m.group], labels: ["No-Auto-Remediation"] });
    const custom = t.incident({ accounts: [m.user], groups: [m.group], labels: ["soc-containment"] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    expectHeld(fake, standard, await callWebhook(depsFor(fake), fake.triggerBody(standard)), /carries the label "no-auto-remediation"/);
    const res = await callWebhook(depsFor(fake, { NO_AUTO_REMEDIATION_LABEL: "soc-containment" }), fake.triggerBody(custom));
    expectHeld(fake, custom, res, /carries the label "soc-containment"/);
  });

  it("the reopen loop: remediates once, then holds the reopened incident in the webhook and the sweeper", async () => {
    const t = new TenantBuilder();
    const m = t.member("adele");
    const inc = t.incident({ accounts: [m.user], groups: [m.group], createdMinutesAgo: 30 });
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake);

    const first = await callWebhook(deps, fake.triggerBody(inc));
    expect(first.body.outcome).toBe("remediated");
    const closed = fake.incidents.get(inc)!;
    expect(closed.labels.map((l) => l.labelName)).toContain("auto-remediated");

    // The analyst disagrees: removes the user again as containment and reopens the incident.
    fake.members.get(m.group)?.delete(m.user);
    closed.status = "New";
    closed.lastModifiedTimeUtc = new Date(Date.now() + 60_000).toISOString();
    const reprocessedBefore = fake.reprocessed.get(m.assignment);

    const again = await callWebhook(deps, fake.triggerBody(inc));
    expect(again.body).toMatchObject({ outcome: "held", closed: false });
    expect(holdsOf(again.body)).toEqual(["reopened"]);
    expect(commentsOf(fake, inc)).toContain('this app closed the incident before (label "auto-remediated") and someone reopened it');

    const swept = await sweepOpenIncidents(deps, captureLog(), never, { ...SWEEP_DEFAULTS, graceMs: 0 });
    expect(swept.ran.remediated ?? []).toEqual([]);
    expect(fake.reprocessed.get(m.assignment)).toBe(reprocessedBefore);
    expect(fake.members.get(m.group)?.has(m.user)).toBe(false);
    expect(fake.incidents.get(inc)?.status).toBe("New");
  });
});

describe("never restore a user the SOC is containing", () => {
  it("restores the healthy user next to a disabled one and leaves the incident open", async () => {
    const t = new TenantBuilder();
    const healthy = t.member("healthy");
    const disabled = t.member("disabled", { accountEnabled: false });
    const inc = t.incident({ accounts: [healthy.user, disabled.user], groups: [healthy.group, disabled.group] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(holdsOf(res.body)).toEqual([`account:${disabled.user}`]);
    expect([...fake.reprocessed.keys()]).toEqual([healthy.assignment]);
    expect(fake.members.get(healthy.group)?.has(healthy.user)).toBe(true);
    expect(fake.members.get(disabled.group)?.has(disabled.user)).toBe(false);
    expect(fake.incidents.get(inc)?.status).toBe("New");
    expect(commentsOf(fake, inc)).toMatch(
      new RegExp(`${disabled.user}\\): account is disabled \\[account\\] — to release: enable the account`),
    );
    expect(res.logs.join("\n")).toContain(`hold [account] user ${disabled.user}: account is disabled`);
  });

  for (const [risk, held] of [
    [{ riskLevel: "medium", riskState: "atRisk" }, true],
    [{ riskLevel: "low", riskState: "confirmedCompromised" }, true],
    [{ riskLevel: "high", riskState: "dismissed" }, true],
    [{ riskLevel: "low", riskState: "dismissed" }, false],
    [{ riskLevel: "none", riskState: "remediated" }, false],
  ] as const) {
    it(`Identity Protection ${risk.riskState}/${risk.riskLevel}: ${held ? "not restored" : "restored"}`, async () => {
      const t = new TenantBuilder();
      const m = t.member("grady", { risk });
      const inc = t.incident({ accounts: [m.user], groups: [m.group] });
      fake = await FakeTenant.start({ scenario: t.scenario });

      const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

      if (held) expectHeld(fake, inc, res, new RegExp(`risk state ${risk.riskState}, level ${risk.riskLevel}`));
      else expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    });
  }

  /** One removal whose every Identity Protection read answers `status`, through the webhook. */
  async function withRiskReadAnswering(status: number) {
    const t = new TenantBuilder();
    const r = t.removal("u");
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.addFault({ service: "graph", method: "GET", path: "/identityProtection/riskyUsers/", status, times: 0 });
    return { f: fake, r, res: await callWebhook(depsFor(fake), fake.triggerBody(r.incident)) };
  }

  it("a refused risk read holds the user and names the permission; it never proceeds blind", async () => {
    const { f, r, res } = await withRiskReadAnswering(403);

    expectHeld(f, r.incident, res, /IdentityRiskyUser\.Read\.All/);
    expect(holdsOf(res.body)).toEqual([`risk:${r.user}`]);
  });

  it("a risk read that keeps failing (500) fails the run: nothing restored, nothing closed", async () => {
    const { f, r, res } = await withRiskReadAnswering(500);

    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(f.reprocessed.size).toBe(0);
    expect(f.incidents.get(r.incident)?.status).toBe("New");
  });

  it("IDENTITY_PROTECTION_CHECK=off restores a user at risk without reading risk", async () => {
    const t = new TenantBuilder();
    const m = t.member("grady", { risk: { riskLevel: "high", riskState: "atRisk" } });
    const inc = t.incident({ accounts: [m.user], groups: [m.group] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake, { IDENTITY_PROTECTION_CHECK: "off" }), fake.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    expect(res.body.decisions.map((d: { guard: string }) => d.guard)).not.toContain("risk");
    expect(graphCalls(fake).some((r) => r.path.includes("riskyUsers"))).toBe(false);
  });
});

describe("limit the blast radius", () => {
  it("holds an incident naming more users than MAX_USERS_PER_INCIDENT whole, listing them, reading nothing from Graph", async () => {
    const t = new TenantBuilder();
    const users = Array.from({ length: 6 }, (_, i) => t.member(`bulk${i}`));
    const inc = t.incident({ accounts: users.map((u) => u.user), groups: users.map((u) => u.group) });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expectHeld(fake, inc, res, /incident names 6 users, more than MAX_USERS_PER_INCIDENT \(5\); held whole/);
    for (const u of users) expect(commentsOf(fake, inc)).toContain(u.user);
    expect(graphCalls(fake)).toHaveLength(0);
  });

  it("a burst on one instance counts every restore once: no run fails on the instance's own etag conflicts", async () => {
    const t = new TenantBuilder();
    const removals = Array.from({ length: 40 }, (_, i) => t.removal(`burst${i}`));
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake, { MAX_USERS_RESTORED_PER_HOUR: "1000" });

    const results = await Promise.all(removals.map((r) => callWebhook(deps, fake!.triggerBody(r.incident))));

    expect(results.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(fake.reprocessed.size).toBe(40);
    // The shared count saw each of the 40 restores exactly once.
    expect(await deps.store.reserveRestores(0, 1000, Date.now(), never)).toMatchObject({ granted: true, used: 40 });
  });

  it("two instances racing the hourly cap restore no more users than the cap, and the sweeper resumes the rest next hour", async () => {
    const cap = 3;
    const t = new TenantBuilder();
    const removals = Array.from({ length: 10 }, (_, i) => t.removal(`race${i}`, 30));
    fake = await FakeTenant.start({ scenario: t.scenario });
    // Two app instances: separate clients and caches, one shared state table.
    const shared = { MAX_USERS_RESTORED_PER_HOUR: String(cap), STATE_TABLE_NAME: `race${randomUUID().replace(/-/g, "")}` };
    const instances = [depsFor(fake, shared), depsFor(fake, shared)];

    const results = await Promise.all(removals.map((r, i) => callWebhook(instances[i % 2]!, fake!.triggerBody(r.incident))));

    const outcomes = results.map((r) => r.body.outcome).sort();
    expect(outcomes).toEqual([...Array(cap).fill("remediated"), ...Array(10 - cap).fill("capped")].sort());
    expect(results.filter((r) => r.body.outcome === "capped").every((r) => r.status === 202)).toBe(true);
    expect(fake.reprocessed.size).toBe(cap);
    const capped = removals.filter((_, i) => results[i]?.body.outcome === "capped");
    for (const r of capped) {
      expect(fake.incidents.get(r.incident)?.status).toBe("New");
      expect(commentsOf(fake, r.incident)).toMatch(new RegExp(`${cap} of ${cap} users already restored in the last 60 minutes`));
    }

    // The next hour (a restore counts for 61 minute buckets): the sweeper resumes the capped incidents, again within the cap.
    const nextHour = { ...depsFor(fake, shared), now: () => Date.now() + 62 * 60_000 };
    const swept = await sweepOpenIncidents(nextHour, captureLog(), never, { ...SWEEP_DEFAULTS, graceMs: 0 });
    expect(swept.ran.remediated).toHaveLength(cap);
    expect(swept.ran.capped).toHaveLength(10 - 2 * cap);
    expect(fake.reprocessed.size).toBe(2 * cap);
  });
});

describe("dry run shows every decision", () => {
  it("lists passed and held checks in the summary, the comment and the log, changing nothing", async () => {
    const t = new TenantBuilder();
    const healthy = t.member("healthy");
    const disabled = t.member("disabled", { accountEnabled: false });
    const inc = t.incident({
      accounts: [healthy.user, disabled.user],
      groups: [healthy.group, disabled.group],
      status: "Active",
      labels: ["no-auto-remediation"],
    });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake, { REMEDIATION_MODE: "dry-run" }), fake.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "dry-run", dryRun: true, closed: false, reprocessed: [] });
    const decisions = res.body.decisions.map(
      (d: { guard: string; result: string; userId?: string }) => `${d.guard}${d.userId ? `:${d.userId}` : ""}=${d.result}`,
    );
    expect(decisions).toEqual(
      expect.arrayContaining([
        "alerts=pass",
        "status=hold",
        "owner=pass",
        "hold-label=hold",
        "reopened=pass",
        "age=pass",
        "users-per-incident=pass",
        "lost-access=pass",
        `account:${healthy.user}=pass`,
        `account:${disabled.user}=hold`,
        `risk:${healthy.user}=pass`,
        `risk:${disabled.user}=pass`,
      ]),
    );
    expect(decisions).toHaveLength(12);
    const comment = commentsOf(fake, inc);
    expect(comment).toContain("Held by safety checks");
    expect(comment).toContain("Checks");
    expect(comment).toContain("every alert comes from an allowed removal rule [alerts]");
    expect(res.logs.join("\n")).toContain("pass [alerts]");
    expect(res.logs.join("\n")).toContain("hold [status]");
    expect(fake.reprocessed.size).toBe(0);
    expect(fake.incidents.get(inc)?.status).toBe("Active");
  });
});
