/**
 * Group ownership: incidents of the owner-removal rule (SENTINEL_OWNER_RULE_IDS) restore the
 * assignments whose package grants the group's Owner role, and verify the ownership, through the
 * real clients against the fake tenant.
 */
import { describe, expect, it } from "vitest";
import { DECISION_RECORD } from "../../src/core/decisionRecord";
import type { FakeTenant } from "../fake-tenant/server";
import { callWebhook, commentsOf, depsFor, fakeTenantPerTest, OWNER_RULE_ID, RULE_ID, TenantBuilder } from "../helpers";

const start = fakeTenantPerTest();

/** A user whose package "Finance Owners" grants ownership of sg-Finance, and "Finance Readers" its membership. */
function owner(t: TenantBuilder) {
  const user = t.user("adele");
  const group = t.group("sg-Finance");
  const owners = t.assign(user, t.accessPackage("Finance Owners", [], { ownedGroups: [group] }));
  const readers = t.assign(user, t.accessPackage("Finance Readers", [group]));
  return { user, group, owners, readers };
}

/** The settings of a deployment with the owner rule. */
const OWNERS = { SENTINEL_OWNER_RULE_IDS: OWNER_RULE_ID };

const paths = (f: FakeTenant) => f.requests.filter((r) => r.service === "graph").map((r) => r.path);

describe("group ownership", () => {
  it("an owner-removal incident reprocesses the package granting ownership, verifies the user owns the group again, and closes", async () => {
    const t = new TenantBuilder();
    const { user, group, owners, readers } = owner(t);
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [OWNER_RULE_ID] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, OWNERS), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    expect([...f.reprocessed.keys()]).toEqual([owners]);
    // The readers' package grants nothing the incident names: not part of the plan at all.
    expect(res.body.skipped).toEqual([]);
    expect(f.reprocessed.has(readers)).toBe(false);
    expect(res.body.restored).toEqual([{ userId: user, kind: "owner", targetId: group }]);
    expect(f.owners.get(group)?.has(user)).toBe(true);
    // Verified by the group's owners, not by a membership read.
    expect(paths(f).some((p) => p === `/v1.0/groups/${group}/owners`)).toBe(true);
    expect(paths(f).some((p) => p.endsWith("/members"))).toBe(false);
    expect(commentsOf(f, inc)).toContain("owner of group");

    // The decision record the workbook reads: one log line, the prefix then JSON.
    const lines = res.logs.filter((l) => l.includes(`${DECISION_RECORD} `));
    expect(lines).toHaveLength(1);
    const record = JSON.parse(lines[0]?.split(`${DECISION_RECORD} `)[1] ?? "") as Record<string, unknown>;
    expect(record).toMatchObject({
      v: 1,
      incidentId: inc,
      outcome: "remediated",
      dryRun: false,
      holds: [],
      users: 1,
      reprocessed: 1,
      restored: [{ userId: user, kind: "owner", targetId: group }],
      restoredCount: 1,
      notRestored: 0,
    });
    expect(Date.parse(String(record.at))).toBeGreaterThanOrEqual(Date.parse(String(record.requestedAt)));
  });

  it("a package granting only membership does not restore a lost ownership: nothing is reprocessed and the incident stays open", async () => {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const group = t.group("sg-Finance");
    t.assign(user, t.accessPackage("Finance Readers", [group]));
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [OWNER_RULE_ID] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, OWNERS), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "nothing-to-reprocess", closed: false });
    expect(f.reprocessed.size).toBe(0);
    expect(res.body.notRestored).toEqual([
      { userId: user, kind: "owner", targetId: group, reason: "no access package assignment of the user grants it" },
    ]);
    expect(f.incidents.get(inc)?.status).toBe("New");
  });

  it("a membership incident is not restored by a package that grants only ownership", async () => {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const group = t.group("sg-Finance");
    t.assign(user, t.accessPackage("Finance Owners", [], { ownedGroups: [group] }));
    const inc = t.incident({ accounts: [user], groups: [group] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, OWNERS), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "nothing-to-reprocess", closed: false });
    expect(f.reprocessed.size).toBe(0);
    expect(res.body.notRestored).toEqual([expect.objectContaining({ kind: "group", targetId: group })]);
  });

  it("an ownership Entra ID does not deliver leaves the incident open, waiting", async () => {
    const t = new TenantBuilder();
    const { user, group } = owner(t);
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [OWNER_RULE_ID] });
    const f = await start(t, { deliveryDelayMs: -1 });

    const res = await callWebhook(depsFor(f, { ...OWNERS, DELIVERY_CHECK_SECONDS: "0" }), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "awaiting-delivery", closed: false, restored: [] });
    expect(res.body.message).toContain("ownership");
    expect(f.incidents.get(inc)?.status).toBe("New");
  });

  it("owners Graph refuses to list: the run fails naming the permission, the wave is kept and never repeated", async () => {
    const t = new TenantBuilder();
    const { user, group, owners } = owner(t);
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [OWNER_RULE_ID] });
    const f = await start(t);
    f.addFault({ service: "graph", method: "GET", path: "/owners$", status: 403, times: 0 });

    const deps = depsFor(f, OWNERS);
    const res = await callWebhook(deps, f.triggerBody(inc));

    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain("GroupMember.Read.All");
    expect([...f.reprocessed.entries()]).toEqual([[owners, 1]]);
    expect(f.incidents.get(inc)?.status).toBe("New");

    // A later run only verifies the recorded wave: no second reprocess.
    const again = await callWebhook(deps, f.triggerBody(inc));
    expect(again.status).toBe(502);
    expect([...f.reprocessed.entries()]).toEqual([[owners, 1]]);
  });

  it("a group deleted meanwhile (owners answer 404) is an ownership not back: the incident waits for delivery, nothing fails", async () => {
    const t = new TenantBuilder();
    const { user, group } = owner(t);
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [OWNER_RULE_ID] });
    const f = await start(t);
    f.addFault({ service: "graph", method: "GET", path: `/groups/${group}/owners$`, status: 404, times: 0 });

    const res = await callWebhook(depsFor(f, { ...OWNERS, DELIVERY_CHECK_SECONDS: "0" }), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "awaiting-delivery", closed: false, restored: [] });
    expect(f.requests.some((r) => r.status === 404 && r.path.startsWith(`/v1.0/groups/${group}/owners`))).toBe(true);
  });

  it("an incident merging member and owner removals checks both roles of its group, and closes when both are back", async () => {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const group = t.group("sg-Finance");
    const both = t.assign(user, t.accessPackage("Finance Leads", [group], { ownedGroups: [group] }));
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [RULE_ID, OWNER_RULE_ID] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, OWNERS), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    expect([...f.reprocessed.keys()]).toEqual([both]);
    expect(res.body.restored).toEqual(
      expect.arrayContaining([
        { userId: user, kind: "group", targetId: group },
        { userId: user, kind: "owner", targetId: group },
      ]),
    );
  });

  it("a merged incident whose group's ownership no package grants stays open and says so", async () => {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const group = t.group("sg-Finance");
    t.assign(user, t.accessPackage("Finance Readers", [group]));
    const inc = t.incident({ accounts: [user], groups: [group], ruleIds: [RULE_ID, OWNER_RULE_ID] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, OWNERS), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "partly-restored", closed: false });
    expect(res.body.restored).toEqual([{ userId: user, kind: "group", targetId: group }]);
    expect(res.body.notRestored).toEqual([expect.objectContaining({ kind: "owner", targetId: group })]);
  });
});
