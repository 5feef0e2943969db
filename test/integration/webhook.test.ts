/**
 * The webhook end to end: real HttpRequest → handler → real Graph client, ARM SDK and
 * @azure/identity credential over HTTPS → the loopback fake tenant.
 */
import { describe, expect, it } from "vitest";
import type { FakeTenant } from "../fake-tenant/server";
import { callWebhook, depsFor, fakeTenantPerTest, RULE_ID, TenantBuilder, WORKSPACE, requestsOf } from "../helpers";

const start = fakeTenantPerTest();

const incidentOf = (f: FakeTenant, name: string) => {
  const i = f.incidents.get(name);
  if (!i) throw new Error("no incident");
  return i;
};

describe("webhook against the fake tenant", () => {
  it("reprocesses the one user's assignment granting the lost group, comments and closes", async () => {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const finance = t.group("sg-Finance");
    const sales = t.group("sg-Sales");
    const financePkg = t.accessPackage("Finance Analysts", [finance]);
    const salesPkg = t.accessPackage("Sales Team", [sales]);
    const a1 = t.assign(user, financePkg);
    const a2 = t.assign(user, salesPkg);
    const inc = t.incident({ accounts: [user], groups: [finance] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "remediated", closed: true, dryRun: false, groups: [finance] });
    expect(res.body.users).toEqual([{ objectId: user, source: "aadUserId", name: "user@contoso.example" }]);
    expect(res.body.reprocessed.map((a: { assignmentId: string }) => a.assignmentId)).toEqual([a1]);
    // a2's package grants nothing the incident names: left out, not listed as skipped.
    expect(res.body.skipped).toEqual([]);
    expect(f.reprocessed.has(a2)).toBe(false);
    expect([...f.reprocessed.keys()]).toEqual([a1]);
    expect(f.members.get(finance)?.has(user)).toBe(true);

    const incident = incidentOf(f, inc);
    expect(incident).toMatchObject({ status: "Closed", classification: "BenignPositive", classificationReason: "SuspiciousButExpected" });
    expect(incident.classificationComment).toMatch(/1 reprocessed access package assignment/);
    expect(incident.labels.map((l) => l.labelName)).toContain("auto-remediated");
    expect(res.body.restored).toEqual([{ userId: user, kind: "group", targetId: finance }]);
    expect(res.body.notRestored).toEqual([]);
    const comments = [...incident.comments.values()];
    expect(comments).toHaveLength(1);
    expect(comments[0]?.message).toContain("Finance Analysts");
    // Only what concerns the removal: the unrelated package is not in the comment.
    expect(comments[0]?.message).not.toContain("Sales Team");
    expect(res.body.commentId).toBe([...incident.comments.keys()][0]);
  });

  it("handles several Account entities, reprocessing each user's assignments", async () => {
    const t = new TenantBuilder();
    const g = t.group("sg-Shared");
    const pkg = t.accessPackage("Shared", [g]);
    const u1 = t.user("u1");
    const u2 = t.user("u2");
    const u3 = t.user("u3");
    const ids = [t.assign(u1, pkg), t.assign(u2, pkg), t.assign(u3, pkg)];
    // u3 comes through objectGuid only (the original playbook's mapping); u1 appears twice.
    const inc = t.incident({ accounts: [u1, u2, { objectGuid: u3 }, { aadUserId: u1.toUpperCase() }], groups: [g] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body.users.map((u: { objectId: string; source: string }) => [u.objectId, u.source])).toEqual([
      [u1, "aadUserId"],
      [u2, "aadUserId"],
      [u3, "objectGuid"],
    ]);
    expect([...f.reprocessed.keys()].sort()).toEqual([...ids].sort());
    expect(incidentOf(f, inc).status).toBe("Closed");
  });

  it("follows @odata.nextLink over several pages", async () => {
    const t = new TenantBuilder();
    const user = t.user("many");
    const g = t.group("g");
    const ids = Array.from({ length: 7 }, (_, i) => t.assign(user, t.accessPackage(`P${i}`, [g])));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t, { pageSize: 3 });

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    const pages = f.requests.filter((r) => r.service === "graph" && r.path.endsWith("/assignments"));
    expect(pages).toHaveLength(3);
    expect(pages[1]?.query.$skiptoken).toBeDefined();
    expect(pages[2]?.query.$filter).toBe(`target/objectId eq '${user}'`);
    expect(res.body.reprocessed).toHaveLength(7);
    expect([...f.reprocessed.keys()].sort()).toEqual([...ids].sort());
  });

  it("without a SecurityGroup or CloudApplication entity restores nothing: it cannot tell what was lost", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    t.assign(user, t.accessPackage("A", [t.group("ga")]));
    t.assign(user, t.accessPackage("B", [t.group("gb")]));
    const inc = t.incident({ accounts: [user] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.body).toMatchObject({ outcome: "held", closed: false, groups: [], reprocessed: [] });
    expect(res.body.decisions[0]).toMatchObject({ guard: "lost-access", result: "hold" });
    expect(f.reprocessed.size).toBe(0);
    expect(requestsOf(f, "graph")).toEqual([]);
    expect([...incidentOf(f, inc).comments.values()][0]?.message).toContain("names no group or application");
  });

  it("skips expired, delivering and partially delivered assignments with reasons and calls out partial delivery", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    const pkg = (n: string) => t.accessPackage(n, [g]);
    const delivered = t.assign(user, pkg("Delivered"));
    const expired = t.assign(user, pkg("Expired"), "expired");
    const delivering = t.assign(user, pkg("Delivering"), "delivering");
    const partial = t.assign(user, pkg("Partial"), "partiallyDelivered");
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.body.outcome).toBe("remediated");
    expect([...f.reprocessed.keys()]).toEqual([delivered]);
    const reasons = Object.fromEntries(res.body.skipped.map((s: { assignmentId: string; reason: string }) => [s.assignmentId, s.reason]));
    expect(reasons[expired]).toMatch(/expired/);
    expect(reasons[delivering]).toMatch(/in progress/);
    expect(reasons[partial]).toMatch(/partially delivered/);
    expect(res.body.needsAttention.map((a: { assignmentId: string }) => a.assignmentId)).toEqual([partial]);
    expect([...incidentOf(f, inc).comments.values()][0]?.message).toContain("Needs an admin (partially delivered)");
  });

  it("with no assignments comments and leaves the incident open", async () => {
    const t = new TenantBuilder();
    const user = t.user("nobody");
    const inc = t.incident({ accounts: [user], groups: [t.group("g")] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "nothing-to-reprocess", closed: false, reprocessed: [] });
    const incident = incidentOf(f, inc);
    expect(incident.status).toBe("New");
    expect([...incident.comments.values()][0]?.message).toContain("so automation restored nothing; review it");
  });

  it("without a usable Account entity comments why and leaves the incident open", async () => {
    const t = new TenantBuilder();
    const inc = t.incident({ accounts: [{ accountName: "onprem-only" }], groups: [t.group("g")] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "no-account", closed: false });
    expect(res.body.message).toMatch(/aadUserId or objectGuid/);
    expect(f.requests.filter((r) => r.service === "graph")).toHaveLength(0);
    const incident = incidentOf(f, inc);
    expect(incident.status).toBe("New");
    expect([...incident.comments.values()][0]?.message).toContain("No Account entity");
  });

  it("reports an assignment that vanished (reprocess 404) without failing", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    const gone = t.assign(user, t.accessPackage("Gone", [g]));
    const kept = t.assign(user, t.accessPackage("Kept", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);
    f.addFault({ service: "graph", method: "POST", path: `${gone}/reprocess$`, status: 404 });

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("remediated");
    expect(res.body.reprocessed.map((a: { assignmentId: string }) => a.assignmentId)).toEqual([kept]);
    expect(res.body.skipped).toEqual([
      expect.objectContaining({ assignmentId: gone, reason: expect.stringContaining("no longer exists") }),
    ]);
  });

  it("when one reprocess fails: comments the failure, leaves the incident open, answers 502; the retry finishes", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const [g1, g2] = [t.group("g1"), t.group("g2")];
    const ok = t.assign(user, t.accessPackage("Fine", [g1]));
    const bad = t.assign(user, t.accessPackage("Broken", [g2]));
    const inc = t.incident({ accounts: [user], groups: [g1, g2] });
    const f = await start(t);
    f.addFault({ service: "graph", method: "POST", path: `${bad}/reprocess$`, status: 500, times: 0 });
    const deps = depsFor(f);

    const first = await callWebhook(deps, f.triggerBody(inc));

    expect(first.status).toBe(502);
    expect(first.body).toMatchObject({ outcome: "failed", closed: false });
    expect(first.body.failed).toEqual([expect.objectContaining({ assignmentId: bad, error: expect.stringContaining("500") })]);
    expect(first.body.reprocessed.map((a: { assignmentId: string }) => a.assignmentId)).toEqual([ok]);
    const incident = incidentOf(f, inc);
    expect(incident.status).toBe("New");
    expect([...incident.comments.values()][0]?.message).toContain("Broken");

    f.clearFaults();
    const retry = await callWebhook(deps, f.triggerBody(inc));

    expect(retry.status).toBe(200);
    expect(retry.body.outcome).toBe("remediated");
    expect(incident.status).toBe("Closed");
    // The failure comment stays as history; the success is a second comment.
    expect(incident.comments.size).toBe(2);
  });

  it("keeps the incident's owner, labels, title, severity and description when closing it", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const record = t.scenario.incidents.find((i) => i.name === inc);
    if (!record) throw new Error("no incident");
    Object.assign(record, {
      severity: "High",
      description: "Removed during the finance re-org",
      // A queue (a group owner), not a person: a person's incident is held.
      owner: {
        objectId: "be796158-004d-4f5d-9b2e-73b368ab0ad8",
        email: "soc@contoso.example",
        assignedTo: "SOC Tier 1",
        userPrincipalName: "soc@contoso.example",
        ownerType: "Group",
      },
      labels: [{ labelName: "access-review" }],
    });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.body.closed).toBe(true);
    expect(incidentOf(f, inc)).toMatchObject({
      status: "Closed",
      title: "User removed from group or app role by hand",
      severity: "High",
      description: "Removed during the finance re-org",
      owner: { objectId: "be796158-004d-4f5d-9b2e-73b368ab0ad8", assignedTo: "SOC Tier 1", ownerType: "Group" },
      labels: [
        { labelName: "access-review", labelType: "User" },
        { labelName: "auto-remediated", labelType: "User" },
      ],
    });
  });

  it("re-reads and retries when the close meets a stale etag", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);
    f.addFault({ service: "arm", method: "PUT", path: `/incidents/${inc}$`, etagConflict: true });

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body.closed).toBe(true);
    expect(incidentOf(f, inc).status).toBe("Closed");
    const puts = f.requests.filter((r) => r.service === "arm" && r.method === "PUT" && r.path.endsWith(inc));
    expect(puts.map((r) => r.status)).toEqual([409, 200]);
  });

  it("treats a replay for an already closed incident as a no-op success", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);
    const deps = depsFor(f);
    const body = f.triggerBody(inc);

    const first = await callWebhook(deps, body);
    const before = f.requests.length;
    const replay = await callWebhook(deps, body);

    expect(first.body.outcome).toBe("remediated");
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ outcome: "already-closed", closed: true, reprocessed: [] });
    expect(incidentOf(f, inc).comments.size).toBe(1);
    expect(f.reprocessed.size).toBe(1);
    const replayCalls = f.requests.slice(before).filter((r) => r.service !== "login");
    expect(replayCalls.every((r) => r.method === "GET" || r.path.endsWith("/entities"))).toBe(true);
  });

  it("in dry-run mode comments what it would do and changes nothing", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    const a = t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, { REMEDIATION_MODE: "dry-run" }), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "dry-run", dryRun: true, closed: false, reprocessed: [] });
    expect(res.body.wouldReprocess.map((x: { assignmentId: string }) => x.assignmentId)).toEqual([a]);
    expect(f.reprocessed.size).toBe(0);
    const incident = incidentOf(f, inc);
    expect(incident.status).toBe("New");
    expect([...incident.comments.values()][0]?.message).toContain("Would reprocess");
  });

  it("refuses an incident of another workspace with 403 before calling anything", async () => {
    const t = new TenantBuilder();
    const inc = t.incident({ accounts: [t.user("u")] });
    const f = await start(t);
    const body = f.triggerBody(inc) as { workspaceInfo: Record<string, string>; object: { id: string } };
    body.workspaceInfo.WorkspaceName = "law-other";
    body.object.id = body.object.id.replace(WORKSPACE.name, "law-other");

    const res = await callWebhook(depsFor(f), body);

    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("WorkspaceMismatch");
    expect(res.body.error.message).toContain("another workspace");
    expect(f.requests).toHaveLength(0);
  });

  it("holds an incident of a rule not in SENTINEL_RULE_IDS: comments why, reprocesses and closes nothing", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], ruleIds: ["0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab"] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f, { SENTINEL_RULE_IDS: RULE_ID }), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(res.body.decisions[0]).toMatchObject({
      guard: "alerts",
      result: "hold",
      reason: expect.stringContaining("incident holds alerts of other rules or products"),
    });
    expect(f.requests.filter((r) => r.service === "graph")).toHaveLength(0);
    expect(incidentOf(f, inc).status).toBe("New");
    expect([...incidentOf(f, inc).comments.values()][0]?.message).toContain("incident holds alerts of other rules or products");
  });

  it("accepts an incident from an allowed rule given as a full ARM id", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);
    const armRuleId = `/subscriptions/${WORKSPACE.subscriptionId}/resourceGroups/${WORKSPACE.resourceGroup}/providers/Microsoft.OperationalInsights/workspaces/${WORKSPACE.name}/providers/Microsoft.SecurityInsights/alertRules/${RULE_ID.toUpperCase()}`;

    const res = await callWebhook(
      depsFor(f, { SENTINEL_RULE_IDS: `0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab, ${armRuleId}` }),
      f.triggerBody(inc),
    );

    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("remediated");
  });

  it("answers 404 for an incident that does not exist, changing nothing", async () => {
    const t = new TenantBuilder();
    const inc = t.incident({ accounts: [t.user("u")] });
    const f = await start(t);
    const body = f.triggerBody(inc) as { object: { id: string; name: string } };
    const missing = "07dd808c-c0a4-4544-bb3a-132992587dde";
    body.object.id = body.object.id.replace(inc, missing);
    body.object.name = missing;

    const res = await callWebhook(depsFor(f), body);

    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("IncidentNotFound");
    // The body is only a pointer: nothing is read from Graph for the users it names.
    expect(requestsOf(f, "graph")).toEqual([]);
    expect(f.reprocessed.size).toBe(0);
    expect(requestsOf(f, "arm").every((r) => !r.startsWith("PUT"))).toBe(true);
  });

  it("uses the incident's real entities, never the ones in the body", async () => {
    const t = new TenantBuilder();
    const real = t.user("real");
    const other = t.user("other");
    const g = t.group("g");
    const pkg = t.accessPackage("P", [g]);
    t.assign(real, pkg);
    const otherAssignment = t.assign(other, pkg);
    const inc = t.incident({ accounts: [real], groups: [g] });
    const f = await start(t);
    const body = f.triggerBody(inc) as { object: { properties: Record<string, unknown> } };
    body.object.properties = {
      relatedEntities: [{ kind: "Account", properties: { aadUserId: other } }],
    };

    const res = await callWebhook(depsFor(f), body);

    expect(res.body.users.map((u: { objectId: string }) => u.objectId)).toEqual([real]);
    expect(f.reprocessed.has(otherAssignment)).toBe(false);
    expect([...f.reprocessed.keys()]).toHaveLength(1);
  });

  it("names the missing Graph permission when Graph answers 403, comments it and leaves the incident open", async () => {
    const t = new TenantBuilder();
    const user = t.user("u");
    const g = t.group("g");
    t.assign(user, t.accessPackage("P", [g]));
    const inc = t.incident({ accounts: [user], groups: [g] });
    const f = await start(t);
    f.addFault({ service: "graph", path: "/assignments$", status: 403, times: 0 });

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("GraphAccessDenied");
    expect(res.body.error.message).toContain("EntitlementManagement.ReadWrite.All");
    const incident = incidentOf(f, inc);
    expect(incident.status).toBe("New");
    expect([...incident.comments.values()][0]?.message).toContain("EntitlementManagement.ReadWrite.All");
  });
});

describe("catalog-scoped mode (ACCESS_PACKAGE_CATALOG_IDS)", () => {
  const HR = "7d1f0c3e-2a4b-4c5d-8e6f-a7b8c9d0e1f2";
  const FINANCE = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

  /** A tenant whose app identity holds the assignment manager role on the HR catalog only. */
  function catalogTenant() {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const hrGroup = t.group("sg-HR");
    const hr = t.assign(user, t.accessPackage("HR Staff", [hrGroup], { catalogId: HR }));
    const finance = t.assign(user, t.accessPackage("Finance", [], { catalogId: FINANCE }));
    const inc = t.incident({ accounts: [user], groups: [hrGroup] });
    return { t, user, hrGroup, hr, finance, inc, scenario: { ...t.scenario, catalogScope: [HR] } };
  }

  it("lists per access package of the catalogs, reprocesses there and closes; never an unscoped listing", async () => {
    const c = catalogTenant();
    const fake = await start(c);

    const res = await callWebhook(depsFor(fake, { ACCESS_PACKAGE_CATALOG_IDS: HR }), fake.triggerBody(c.inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
    expect([...fake.reprocessed.keys()]).toEqual([c.hr]);
    expect(fake.members.get(c.hrGroup)?.has(c.user)).toBe(true);
    const listings = fake.requests.filter((r) => r.service === "graph" && r.path.endsWith("/assignments"));
    expect(listings.length).toBeGreaterThan(0);
    for (const l of listings)
      expect(l.query.$filter).toMatch(new RegExp(`^accessPackage/id eq '[0-9a-f-]{36}' and target/objectId eq '${c.user}'$`));
    expect(fake.requests.find((r) => r.path.endsWith("/accessPackages"))?.query.$filter).toBe(`catalog/id eq '${HR}'`);
  });

  it("tenant-wide listing against a catalog-scoped identity fails naming the permission; nothing reprocessed", async () => {
    const c = catalogTenant();
    const fake = await start(c);

    const res = await callWebhook(depsFor(fake), fake.triggerBody(c.inc));

    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain("EntitlementManagement.ReadWrite.All");
    expect(fake.reprocessed.size).toBe(0);
    expect(fake.incidents.get(c.inc)?.status).toBe("New");
  });

  it("a catalog the identity holds no role on fails naming the catalog role", async () => {
    const c = catalogTenant();
    const fake = await start(c);

    const res = await callWebhook(depsFor(fake, { ACCESS_PACKAGE_CATALOG_IDS: `${HR},${FINANCE}` }), fake.triggerBody(c.inc));

    expect(res.status).toBe(502);
    expect(res.body.error.message).toContain('the entitlement-management role "Catalog reader"');
    expect(fake.reprocessed.size).toBe(0);
  });
});

describe("application roles", () => {
  it("reprocesses only the assignments whose package grants a role of the application; leaves the incident open, the role not verifiable", async () => {
    const t = new TenantBuilder();
    const user = t.user("adele");
    const app = "5b1f8c2a-3d4e-4f6a-8b9c-0d1e2f3a4b5c";
    const groupOnly = t.assign(user, t.accessPackage("Finance Reports", [t.group("sg-Finance")]));
    const withApp = t.assign(user, t.accessPackage("Expenses Approvers", [], { apps: [app] }));
    const inc = t.incident({ accounts: [user], applications: [app] });
    const f = await start(t);

    const res = await callWebhook(depsFor(f), f.triggerBody(inc));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "partly-restored", closed: false, applications: [app], groups: [], restored: [] });
    expect(res.body.notRestored).toEqual([
      { userId: user, kind: "app", targetId: app, reason: expect.stringContaining("cannot verify application roles") },
    ]);
    expect([...f.reprocessed.keys()]).toEqual([withApp]);
    expect(res.body.skipped).toEqual([]);
    expect(f.reprocessed.has(groupOnly)).toBe(false);
    expect(f.appRoleHolders.get(app)?.has(user)).toBe(true);
    // No membership read for an application role: nothing to poll.
    expect(f.requests.some((r) => r.path.endsWith("/members"))).toBe(false);
    expect(incidentOf(f, inc).status).toBe("New");
    expect([...incidentOf(f, inc).comments.values()][0]?.message).toContain("cannot verify application roles");
  });
});
