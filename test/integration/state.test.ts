/**
 * Decisions hold at the moment of action: the state machine per incident end to end, through the
 * real handler, Graph client, ARM SDK and credential against the fake tenant, with the state table
 * in Azurite. Each test is one way the world changes while the app works, or a run fails half-way.
 * (The races during the delivery wait and the failures after the wave are rows of the fault
 * matrix, test/faults/faults.test.ts.)
 */
import { TableClient } from "@azure/data-tables";
import { afterEach, describe, expect, it } from "vitest";
import { buildDeps } from "../../src/clients";
import { loadConfig } from "../../src/config";
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import type { Deps } from "../../src/deps";
import { UpstreamError } from "../../src/errors";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, captureLog, commentsOf, depsFor, FAST, settingsFor, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const never = new AbortController().signal;
const sweep = (deps: Deps, options: Partial<typeof SWEEP_DEFAULTS> = {}) =>
  sweepOpenIncidents(deps, captureLog(), never, { ...SWEEP_DEFAULTS, graceMs: 0, ...options });
const reprocessCalls = (f: FakeTenant) => [...f.reprocessed.values()].reduce((a, b) => a + b, 0);
const capUsed = async (deps: Deps) => (await deps.store.reserveRestores(0, 100_000, deps.now(), never)).used;

describe("close only what was restored", () => {
  it("a user who lost two groups, one granted by no access package: restores the other, leaves the incident open naming what is not restored", async () => {
    const t = new TenantBuilder();
    const m = t.member("adele");
    const byHand = t.group("sg-granted-by-hand");
    const inc = t.incident({ accounts: [m.user], groups: [m.group, byHand] });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      outcome: "partly-restored",
      closed: false,
      restored: [{ userId: m.user, kind: "group", targetId: m.group }],
    });
    expect(res.body.notRestored).toEqual([
      { userId: m.user, kind: "group", targetId: byHand, reason: "no access package assignment of the user grants it" },
    ]);
    expect(fake.members.get(m.group)?.has(m.user)).toBe(true);
    expect(fake.incidents.get(inc)?.status).toBe("New");
    expect(commentsOf(fake, inc)).toContain(`group ${byHand}: no access package assignment of the user grants it`);
  });

  it("membership through a nested group is not a delivery: the incident waits", async () => {
    const t = new TenantBuilder();
    const user = t.user("nina");
    const lost = t.group("sg-lost");
    const nested = t.group("sg-nested");
    t.scenario.groups.find((g) => g.id === lost)?.members?.push(nested);
    t.scenario.groups.find((g) => g.id === nested)?.members?.push(user);
    t.assign(user, t.accessPackage("P", [lost]));
    const inc = t.incident({ accounts: [user], groups: [lost] });
    fake = await FakeTenant.start({ scenario: { ...t.scenario, deliveryDelayMs: -1 } });

    const res = await callWebhook(depsFor(fake, { DELIVERY_CHECK_SECONDS: "0" }), fake.triggerBody(inc));

    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ outcome: "awaiting-delivery", closed: false, restored: [] });
    expect(fake.incidents.get(inc)?.status).toBe("New");
  });

  it("verifies 21 lost groups (more than checkMemberGroups takes), one direct-members listing per group", async () => {
    const t = new TenantBuilder();
    const user = t.user("many");
    const groups = Array.from({ length: 21 }, (_, i) => t.group(`sg-${i}`));
    t.assign(user, t.accessPackage("Everything", groups));
    const inc = t.incident({ accounts: [user], groups });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    expect(res.body.restored).toHaveLength(21);
    const listings = fake.requests.filter((r) => r.path.endsWith("/members"));
    expect(new Set(listings.map((r) => r.path)).size).toBe(21);
    expect(listings.every((r) => r.query.$select === "id" && !r.path.includes("microsoft.graph"))).toBe(true);
  });
});

describe("failures are recorded", () => {
  it("a failure that comes before the lease write lands is counted, the lease released, and the comment agrees with the record", async () => {
    const t = new TenantBuilder();
    const r = t.removal("adele");
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake, { SWEEP_MAX_ATTEMPTS: "2" });
    // The lease write is slow (a busy table); the account read fails at once, before it lands.
    const claim = deps.store.claim.bind(deps.store);
    deps.store.claim = async (...args) => {
      await new Promise((ok) => setTimeout(ok, 300));
      return claim(...args);
    };
    fake.addFault({ service: "graph", method: "GET", path: `/users/${r.user}$`, status: 400, times: 0 });

    const first = await callWebhook(deps, fake.triggerBody(r.incident));
    expect(first.status).toBe(502);
    const record = (await deps.store.read(r.incident, new AbortController().signal)).record;
    expect(record).toMatchObject({ outcome: "failed", failures: 1 });
    expect(record?.lease).toBeUndefined();
    expect(commentsOf(fake, r.incident)).toContain("Attempt 1 of 2 failed");

    const second = await callWebhook(deps, fake.triggerBody(r.incident));
    expect(second.status).toBe(502);
    expect((await deps.store.read(r.incident, new AbortController().signal)).record).toMatchObject({ failures: 2 });
    expect(commentsOf(fake, r.incident)).toContain("failed 2 times; the app has stopped trying");
  });
});

describe("re-check before every change", () => {
  it("a run that only verifies an earlier wave checks the user again: disabled since, held and left open", async () => {
    const t = new TenantBuilder();
    const r = t.removal("dana", 30);
    fake = await FakeTenant.start({ scenario: { ...t.scenario, deliveryDelayMs: -1 } });
    const deps = depsFor(fake, { DELIVERY_CHECK_SECONDS: "0" });
    expect((await callWebhook(deps, fake.triggerBody(r.incident))).body.outcome).toBe("awaiting-delivery");

    // Entra ID delivers, and meanwhile the SOC disables the account.
    fake.members.get(r.group)?.add(r.user);
    const account = fake.scenario.users.find((u) => u.id === r.user);
    if (account) account.accountEnabled = false;
    const swept = await sweep(deps);

    expect(swept.ran.held).toEqual([r.incident]);
    expect(fake.incidents.get(r.incident)?.status).toBe("New");
    expect(reprocessCalls(fake)).toBe(1);
    expect(commentsOf(fake, r.incident)).toMatch(/account is disabled/);
  });

  it("a hold label added while the assignments are listed is seen by the re-read before the wave, however quick the run", async () => {
    const t = new TenantBuilder();
    const r = t.removal("quick");
    fake = await FakeTenant.start({ scenario: t.scenario });
    // No delay at all: the re-read is not skipped for a "fresh" first read.
    fake.when({ service: "graph", method: "GET", path: /\/assignments$/ }, () =>
      fake?.editIncident(r.incident, (i) => i.labels.push({ labelName: "no-auto-remediation", labelType: "User" })),
    );

    const deps = depsFor(fake);
    const res = await callWebhook(deps, fake.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(res.body.message).toContain("The incident changed before anything was reprocessed.");
    expect(fake.reprocessed.size).toBe(0);
    // The reservation made alongside the re-read was given back.
    expect(await capUsed(deps)).toBe(0);
  });

  it("an analyst's TruePositive close while the assignments are listed: nothing reprocessed, their classification stands", async () => {
    const t = new TenantBuilder();
    const r = t.removal("closed");
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.when({ service: "graph", method: "GET", path: /\/assignments$/ }, () =>
      fake?.editIncident(r.incident, (i) => {
        i.status = "Closed";
        i.classification = "TruePositive";
      }),
    );

    const res = await callWebhook(depsFor(fake), fake.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "closed-by-other", closed: false });
    expect(fake.reprocessed.size).toBe(0);
    expect(fake.incidents.get(r.incident)).toMatchObject({ status: "Closed", classification: "TruePositive" });
  });

  it.each([
    { when: "while the assignments are listed: held before the wave", path: /\/assignments$/, method: "GET", reprocessed: false },
    {
      when: "during the delivery check: the snapshot the close is decided on sees it",
      path: /\/reprocess$/,
      method: "POST",
      reprocessed: true,
    },
  ])("an alert merged $when; not closed", async ({ path, method, reprocessed }) => {
    const t = new TenantBuilder();
    const a = t.member("ana");
    const b = t.member("bo");
    const inc = t.incident({ accounts: [a.user], groups: [a.group] });
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.when({ service: "graph", method, path }, () =>
      fake?.editIncident(inc, (i) =>
        i.entities.push(
          { kind: "Account", properties: { aadUserId: b.user, accountName: "bo" } },
          { kind: "SecurityGroup", properties: { objectGuid: b.group } },
        ),
      ),
    );

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(res.body.decisions[0]).toMatchObject({ guard: "changed", reason: expect.stringContaining(`${b.user} → group ${b.group}`) });
    expect([...fake.reprocessed.keys()]).toEqual(reprocessed ? [a.assignment] : []);
    expect(fake.incidents.get(inc)?.status).toBe("New");
  });

  it("an incident a person owns is held; one in a queue (group owner) is remediated", async () => {
    const t = new TenantBuilder();
    const a = t.member("ana");
    const b = t.member("bo");
    const owned = t.incident({ accounts: [a.user], groups: [a.group], owner: { assignedTo: "Sam Analyst", ownerType: "User" } });
    const queued = t.incident({ accounts: [b.user], groups: [b.group], owner: { assignedTo: "Tier 1", ownerType: "Group" } });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const held = await callWebhook(depsFor(fake), fake.triggerBody(owned));
    const done = await callWebhook(depsFor(fake), fake.triggerBody(queued));

    expect(held.body).toMatchObject({ outcome: "held", closed: false });
    expect(held.body.decisions[0]).toMatchObject({ guard: "owner", reason: "an analyst owns the incident (Sam Analyst)" });
    expect(fake.reprocessed.has(a.assignment)).toBe(false);
    expect(done.body).toMatchObject({ outcome: "remediated", closed: true });
    expect(fake.incidents.get(queued)?.owner).toMatchObject({ assignedTo: "Tier 1", ownerType: "Group" });
  });

  it("an incident assigned to someone with owner type Unknown (a Defender-portal assignment) is held; an empty Unknown owner is none", async () => {
    const t = new TenantBuilder();
    const a = t.member("ana");
    const b = t.member("bo");
    const unknown = { ownerType: "Unknown" as const };
    const named = t.incident({
      accounts: [a.user],
      groups: [a.group],
      owner: { ...unknown, assignedTo: "Sam Analyst", objectId: "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a" },
    });
    const empty = t.incident({ accounts: [b.user], groups: [b.group], owner: { ...unknown, assignedTo: "" } });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const held = await callWebhook(depsFor(fake), fake.triggerBody(named));
    const done = await callWebhook(depsFor(fake), fake.triggerBody(empty));

    expect(held.body).toMatchObject({ outcome: "held", closed: false });
    expect(held.body.decisions[0]).toMatchObject({ guard: "owner", reason: expect.stringContaining("owner type Unknown") });
    expect(fake.reprocessed.has(a.assignment)).toBe(false);
    expect(done.body).toMatchObject({ outcome: "remediated", closed: true });
  });

  it("a Defender-portal incident without alertProductNames: the alerts are read and decide", async () => {
    const t = new TenantBuilder();
    const a = t.member("ana");
    const b = t.member("bo");
    const sentinelOnly = t.incident({ accounts: [a.user], groups: [a.group], listsProducts: false, productNames: ["Microsoft Sentinel"] });
    const merged = t.incident({
      accounts: [b.user],
      groups: [b.group],
      listsProducts: false,
      productNames: ["Microsoft Sentinel", "Microsoft Defender for Identity"],
    });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const ok = await callWebhook(depsFor(fake), fake.triggerBody(sentinelOnly));
    const held = await callWebhook(depsFor(fake), fake.triggerBody(merged));

    expect(ok.body).toMatchObject({ outcome: "remediated", closed: true });
    expect(held.body).toMatchObject({ outcome: "held", closed: false });
    expect(held.body.decisions[0].reason).toContain("alerts from Microsoft Defender for Identity");
    expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/alerts")).length).toBeGreaterThanOrEqual(2);
  });

  it("alerts that do not add up to the incident's alertsCount are not a snapshot: held, nothing reprocessed", async () => {
    const t = new TenantBuilder();
    const a = t.member("ana");
    // Two alerts counted, one listed: one the app cannot see (a merge the alerts list has not caught up with).
    const inc = t.incident({
      accounts: [a.user],
      groups: [a.group],
      listsProducts: false,
      productNames: ["Microsoft Sentinel"],
      alertsCount: 2,
    });
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(res.body.decisions[0]).toMatchObject({
      guard: "alerts",
      reason: expect.stringContaining("Sentinel listed 1 alert(s) of the incident's 2"),
    });
    expect(fake.reprocessed.size).toBe(0);
  });

  it("an alert of the rule joins the incident after the wave: the next run verifies the wave, holds for the pairs it did not plan, never reprocesses again", async () => {
    const t = new TenantBuilder();
    const a = t.member("ana");
    const b = t.member("bo");
    const inc = t.incident({ accounts: [a.user], groups: [a.group] });
    fake = await FakeTenant.start({ scenario: { ...t.scenario, deliveryDelayMs: -1 } });
    const deps = depsFor(fake, { DELIVERY_CHECK_SECONDS: "0" });

    const first = await callWebhook(deps, fake.triggerBody(inc));
    expect(first.body.outcome).toBe("awaiting-delivery");
    // Entra delivers ana's membership; meanwhile Defender merges bo's removal into the incident.
    fake.members.get(a.group)?.add(a.user);
    fake.editIncident(inc, (i) =>
      i.entities.push(
        { kind: "Account", properties: { aadUserId: b.user, accountName: "bo" } },
        { kind: "SecurityGroup", properties: { objectGuid: b.group } },
      ),
    );
    const second = await callWebhook(deps, fake.triggerBody(inc));

    expect(second.body).toMatchObject({ outcome: "held", closed: false });
    expect(second.body.restored).toEqual([{ userId: a.user, kind: "group", targetId: a.group }]);
    expect(second.body.decisions[0]).toMatchObject({ guard: "changed", reason: expect.stringContaining(`${b.user} → group ${b.group}`) });
    expect([...fake.reprocessed.keys()]).toEqual([a.assignment]);
    expect(fake.incidents.get(inc)?.status).toBe("New");
    expect(commentsOf(fake, inc)).toContain("move that alert to its own incident");
  });

  it("the webhook holds an incident older than SWEEP_MAX_AGE_HOURS", async () => {
    const t = new TenantBuilder();
    const r = t.removal("old", 10 * 24 * 60);
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake), fake.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(res.body.decisions[0]).toMatchObject({ guard: "age", reason: expect.stringContaining("more than SWEEP_MAX_AGE_HOURS (72)") });
    expect(fake.reprocessed.size).toBe(0);
  });

  it("tug of war: the same user and group restored twice in 24 hours holds the third removal", async () => {
    const t = new TenantBuilder();
    const m = t.member("tug");
    const incidents = [1, 2, 3].map(() => t.incident({ accounts: [m.user], groups: [m.group] }));
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake);

    const outcomes: string[] = [];
    for (const inc of incidents) {
      fake.members.get(m.group)?.delete(m.user); // someone removes the user again
      outcomes.push((await callWebhook(deps, fake.triggerBody(inc))).body.outcome);
    }

    expect(outcomes).toEqual(["remediated", "remediated", "held"]);
    expect(reprocessCalls(fake)).toBe(2);
    expect(commentsOf(fake, incidents[2] as string)).toMatch(
      /someone keeps removing this user from group .*restored 2 time\(s\) in 24 hours/,
    );
  });
});

describe("failures and retries", () => {
  it("dry-run failures never count as attempts; the switch to enforce reaches back only when told to", async () => {
    const t = new TenantBuilder();
    const r = t.removal("dry", 30);
    fake = await FakeTenant.start({ scenario: t.scenario });
    const settings = settingsFor(fake, { SWEEP_MAX_ATTEMPTS: "1" });
    const dry = buildDeps(loadConfig({ ...settings, REMEDIATION_MODE: "dry-run" }), undefined, FAST);
    fake.addFault({ service: "graph", path: "/assignments$", status: 500, times: 0 });

    for (let i = 0; i < 3; i++) expect((await callWebhook(dry, fake.triggerBody(r.incident))).status).toBe(502);
    const { record } = await dry.store.read(r.incident, never);
    expect(record).toMatchObject({ outcome: "failed", dryRun: true, failures: 0 });
    expect(commentsOf(fake, r.incident)).toContain("not counted as an attempt");

    fake.clearFaults();
    const enforcing = buildDeps(loadConfig(settings), undefined, FAST);
    expect((await sweep(enforcing)).skipped).toEqual([r.incident]);
    expect((await sweep(enforcing, { includeDryRun: true })).ran.remediated).toEqual([r.incident]);
  });

  it("the attempt limit applies after a wave too: the comment says what was requested, then the sweeper stops", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const [g1, g2] = [t.group("g1"), t.group("g2")];
    const good = t.assign(user, t.accessPackage("Good", [g1]));
    const bad = t.assign(user, t.accessPackage("Bad", [g2]));
    const inc = t.incident({ accounts: [user], groups: [g1, g2], createdMinutesAgo: 30 });
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.addFault({ service: "graph", method: "POST", path: `${bad}/reprocess$`, status: 400, times: 0 });
    const deps = depsFor(fake, { SWEEP_MAX_ATTEMPTS: "2" });

    expect((await callWebhook(deps, fake.triggerBody(inc))).body).toMatchObject({ outcome: "failed" });
    expect((await sweep(deps)).ran.failed).toEqual([inc]);
    expect((await sweep(deps)).skipped).toEqual([inc]);

    const comments = commentsOf(fake, inc);
    expect(comments).toContain("needs an admin");
    expect(comments).toContain("Reprocess of 2 assignment(s) was requested");
    expect(comments).not.toContain("Nothing was reprocessed");
    expect(fake.reprocessed.get(good)).toBe(1);
    expect(await capUsed(deps)).toBe(1);
  });

  it("a failed state write after the close: reported remediated, no comment claims otherwise, the retry is a no-op", async () => {
    const t = new TenantBuilder();
    const r = t.removal("u");
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake);
    const save = deps.store.save.bind(deps.store);
    deps.store.save = async (...args) => {
      if (fake?.incidents.get(r.incident)?.status === "Closed")
        throw new UpstreamError("state", 503, "The state table could not write the state: 503 injected");
      return save(...args);
    };

    const res = await callWebhook(deps, fake.triggerBody(r.incident));
    const retry = await callWebhook(deps, fake.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    expect(retry.body.outcome).toBe("already-closed");
    expect(fake.incidents.get(r.incident)?.comments.size).toBe(1);
    expect(commentsOf(fake, r.incident)).not.toMatch(/failed|nothing was/i);
  });
});

describe("the hourly cap", () => {
  it("is a rolling window: the cap cannot pass twice at a clock-hour boundary", async () => {
    const t = new TenantBuilder();
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake);
    const at = (iso: string) => Date.parse(iso);

    expect((await deps.store.reserveRestores(3, 3, at("2026-11-29T10:59:30Z"), never)).granted).toBe(true);
    const refused = await deps.store.reserveRestores(1, 3, at("2026-11-29T11:00:10Z"), never);
    expect(refused).toMatchObject({ granted: false, used: 3 });
    expect(refused.freesAt).toBe(at("2026-11-29T12:00:00Z"));
    expect((await deps.store.reserveRestores(1, 3, at("2026-11-29T11:59:30Z"), never)).granted).toBe(false);
    expect((await deps.store.reserveRestores(1, 3, at("2026-11-29T12:00:00Z"), never)).granted).toBe(true);
  });

  it("an unreadable counter holds every restore (fails closed)", async () => {
    const t = new TenantBuilder();
    const r = t.removal("u");
    fake = await FakeTenant.start({ scenario: t.scenario });
    const settings = settingsFor(fake);
    const table = TableClient.fromConnectionString(settings.STATE_TABLE_CONNECTION ?? "", settings.STATE_TABLE_NAME ?? "", {
      allowInsecureConnection: true,
    });
    await table.createTable();
    await table.upsertEntity({ partitionKey: "restores", rowKey: "window", buckets: "{not json" });

    const res = await callWebhook(buildDeps(loadConfig(settings), undefined, FAST), fake.triggerBody(r.incident));

    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ outcome: "capped", closed: false });
    expect(fake.reprocessed.size).toBe(0);
    expect(commentsOf(fake, r.incident)).toContain("the hourly counter in the state table is unreadable");
  });
});
