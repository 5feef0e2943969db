import { describe, expect, it } from "vitest";
import { extractEntities } from "../../src/core/entities";
import { planReprocess } from "../../src/core/plan";
import { renderComment, renderText, stableId, type RemediationSummary } from "../../src/core/report";
import { checkIncident, checkUserCount } from "../../src/core/guards";
import { dueReason } from "../../src/core/sweep";
import { AttemptTimeout, createPolicy, retryAfterMs } from "../../src/policy";
import type { IncidentState, SentinelGateway } from "../../src/sentinel";
import { loadConfig, ruleArmId } from "../../src/config";
import type { Assignment } from "../../src/graph";
import { roundTrips } from "../bench/app-worker";

const U1 = "7fd86a5c-d607-47e1-bdf8-d50f3d6637ce";
const U2 = "f1f722c3-a5bd-4c3f-855f-e56601d8d5c9";
const G1 = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";
const G2 = "f611c99c-f011-4175-9a8b-035d01f50ea3";

describe("extractEntities", () => {
  it("takes the application whose role was lost from a CloudApplication entity's InstanceName (a service principal id)", () => {
    const APP = "5B1F8C2A-3D4E-4F6A-8B9C-0D1E2F3A4B5C";
    const r = extractEntities([
      { kind: "CloudApplication", properties: { appName: "Contoso Expenses", instanceName: APP } },
      { kind: "CloudApplication", properties: { appName: "Office 365 Exchange Online", appId: 20893 } },
    ]);
    expect(r.apps).toEqual([APP.toLowerCase()]);
    expect(r.groups).toEqual([]);
  });

  it("prefers aadUserId, falls back to objectGuid, dedupes and keeps a name", () => {
    const r = extractEntities([
      {
        kind: "Account",
        properties: {
          aadUserId: U1.toUpperCase(),
          objectGuid: "11111111-1111-1111-1111-111111111111",
          accountName: "adele",
          upnSuffix: "contoso.example",
        },
      },
      { kind: "Account", properties: { objectGuid: U2, friendlyName: "Grady" } },
      { kind: "Account", properties: { aadUserId: U1 } },
      { kind: "Account", properties: { aadUserId: "not-a-guid", accountName: "svc-onprem" } },
      { kind: "Account", properties: {} },
      { kind: "SecurityGroup", properties: { objectGuid: G1 } },
      { kind: "SecurityGroup", properties: { objectGuid: G1.toUpperCase() } },
      { kind: "SecurityGroup", properties: { distinguishedName: "CN=x" } },
      { kind: "Ip", properties: { address: "203.0.113.1" } },
    ]);
    expect(r.users).toEqual([
      { objectId: U1, source: "aadUserId", name: "adele@contoso.example" },
      { objectId: U2, source: "objectGuid", name: "Grady" },
    ]);
    expect(r.unusableAccounts).toEqual(["svc-onprem", "(unnamed account)"]);
    expect(r.groups).toEqual([G1]);
  });

  it("fills a missing name from a later duplicate entity", () => {
    const r = extractEntities([
      { kind: "Account", properties: { aadUserId: U1 } },
      { kind: "Account", properties: { aadUserId: U1, friendlyName: "Adele" } },
    ]);
    expect(r.users).toEqual([{ objectId: U1, source: "aadUserId", name: "Adele" }]);
  });
});

const a = (id: string, state: string, pkg = "p1"): Assignment => ({
  id,
  state,
  accessPackageId: pkg,
  accessPackageName: pkg.toUpperCase(),
});

describe("planReprocess", () => {
  const grants = (groups: string[], apps: string[] = []) => ({ groups, apps });
  const none = grants([]);

  it("with a known group keeps only assignments whose package grants it", () => {
    const plan = planReprocess(
      [{ userId: U1, assignments: [a("a1", "delivered", "p1"), a("a2", "delivered", "p2")] }],
      grants([G1]),
      new Map([
        ["p1", grants([G1])],
        ["p2", grants([G2])],
      ]),
    );
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a1"]);
    expect(plan.skipped).toEqual([
      expect.objectContaining({
        assignmentId: "a2",
        reason: expect.stringContaining("does not grant what the incident says the user lost"),
      }),
    ]);
  });

  it("with a known application keeps only assignments whose package grants a role of it", () => {
    const APP = "5b1f8c2a-3d4e-4f6a-8b9c-0d1e2f3a4b5c";
    const plan = planReprocess(
      [{ userId: U1, assignments: [a("a1", "delivered", "p1"), a("a2", "delivered", "p2"), a("a3", "delivered", "p3")] }],
      grants([], [APP]),
      new Map([
        ["p1", grants([G1])],
        ["p2", grants([], [APP])],
        ["p3", grants([G2], [APP])],
      ]),
    );
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a2", "a3"]);
    expect(plan.skipped.map((x) => x.assignmentId)).toEqual(["a1"]);
  });

  it("without a group considers all, reprocessing only delivered ones", () => {
    const plan = planReprocess(
      [
        {
          userId: U1,
          assignments: [
            a("a1", "delivered"),
            a("a2", "expired"),
            a("a3", "partiallyDelivered"),
            a("a4", "deliveryFailed"),
            a("a5", "unknownFutureValue"),
          ],
        },
      ],
      none,
      new Map(),
    );
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a1"]);
    expect(plan.skipped.map((x) => [x.assignmentId, x.reason.split(";")[0]])).toEqual([
      ["a2", "assignment has expired"],
      ["a3", "partially delivered"],
      ["a4", "delivery failed"],
      ["a5", "state is unknownFutureValue, not delivered"],
    ]);
    expect(plan.attention.map((x) => x.assignmentId)).toEqual(["a3"]);
  });

  it("lists an assignment once even when two users' lists both hold it", () => {
    const plan = planReprocess(
      [
        { userId: U1, assignments: [a("a1", "delivered")] },
        { userId: U2, assignments: [a("a1", "delivered")] },
      ],
      none,
      new Map(),
    );
    expect(plan.reprocess).toHaveLength(1);
  });
});

describe("report", () => {
  const summary = (): RemediationSummary => ({
    incident: { id: "i1", number: 7, title: "t" },
    outcome: "remediated",
    dryRun: false,
    users: [{ objectId: U1, source: "aadUserId", name: "<b>adele</b>" }],
    groups: [G1],
    applications: [],
    decisions: [{ guard: "account", userId: U1, result: "pass", reason: "account is enabled" }],
    restored: [{ userId: U1, kind: "group", targetId: G1 }],
    notRestored: [],
    reprocessed: [{ userId: U1, assignmentId: "a1", accessPackageId: "p1", accessPackageName: "Finance & Ops", state: "delivered" }],
    wouldReprocess: [],
    skipped: [{ userId: U1, assignmentId: "a2", accessPackageId: "p2", state: "expired", reason: "assignment has expired" }],
    failed: [],
    needsAttention: [],
    closed: true,
    message: "Access restored: the user's access package assignments were reprocessed and the incident is closed.",
  });

  it("stableId is a GUID that depends on every part", () => {
    expect(stableId("a", "b")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(stableId("a", "b")).toBe(stableId("a", "b"));
    expect(stableId("a", "b")).not.toBe(stableId("ab", ""));
    expect(stableId("a", "remediated")).not.toBe(stableId("a", "failed"));
  });

  it("a held incident's comment: the outcome first, each reason once with the action that releases it, groups by name", () => {
    const reason = "Identity Protection: risk state atRisk, level high";
    const held: RemediationSummary = {
      ...summary(),
      outcome: "held",
      closed: false,
      reprocessed: [],
      restored: [],
      groupNames: { [G1]: "sg-Finance" },
      decisions: [{ guard: "risk", userId: U1, result: "hold", reason }],
      message: `Held: ${reason}.`,
    };
    const text = renderComment(held)
      .replace(/<[^>]+>/g, " ")
      .replace(/&#39;/g, "'")
      .replace(/&quot;/g, '"');
    expect(text.trim().startsWith("Access package remediation: held, left open.")).toBe(true);
    expect(text.split(reason)).toHaveLength(2);
    expect(text).toContain("to release: dismiss or remediate the user's risk in Identity Protection, then run the playbook");
    expect(text).toContain(`"sg-Finance" (${G1})`);
    // The JSON summary keeps the reasons in its one sentence.
    expect(renderText(held)).toContain(`Held: ${reason}.`);
  });

  it("renders an escaped HTML comment naming users, packages and reasons", () => {
    const html = renderComment(summary());
    expect(html).toContain("&lt;b&gt;adele&lt;/b&gt;");
    expect(html).toContain("Finance &amp; Ops");
    expect(html).toContain("assignment has expired");
    expect(html).not.toContain("<b>adele");
  });

  it("keeps a comment under Sentinel's 30,000 character limit", () => {
    const s = summary();
    s.skipped = Array.from({ length: 2000 }, (_, i) => ({
      userId: U1,
      assignmentId: `a${i}`,
      accessPackageId: "p",
      state: "expired",
      reason: "assignment has expired",
    }));
    const html = renderComment(s);
    expect(html.length).toBeLessThanOrEqual(30_000);
    expect(html).toMatch(/truncated/);
  });

  it("renders readable text with counts", () => {
    const text = renderText(summary());
    expect(text).toContain("Incident #7 i1");
    expect(text).toContain("Reprocessed (1):");
    expect(text).toContain("Skipped (1):");
  });
});

describe("call policy", () => {
  const httpError = (status: number, retryAfter?: string) =>
    Object.assign(new Error(`status ${status}`), {
      statusCode: status,
      headers: new Headers(retryAfter !== undefined ? { "retry-after": retryAfter } : {}),
    });
  const never = new AbortController().signal;

  it("backs off exponentially on 429 without Retry-After (never 0 s), and honours Retry-After when given", async () => {
    const policy = createPolicy({ timeoutMs: 1000, attempts: 3, maxInFlight: 5, baseDelayMs: 50 });
    const times: number[] = [];
    await expect(
      policy.run(never, async () => {
        times.push(Date.now());
        throw httpError(429);
      }),
    ).rejects.toThrow("status 429");
    expect(times).toHaveLength(3);
    // A 429 without Retry-After waits at least a second, and the second wait is longer than the first.
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(950);
    expect(retryAfterMs(httpError(429, "2"))).toBe(2000);
    expect(retryAfterMs(httpError(429))).toBeUndefined();
  });

  it("does not retry what retrying cannot fix", async () => {
    const policy = createPolicy({ timeoutMs: 1000, attempts: 4, maxInFlight: 5, baseDelayMs: 10 });
    let n = 0;
    await expect(
      policy.run(never, async () => {
        n++;
        throw httpError(403);
      }),
    ).rejects.toThrow("status 403");
    expect(n).toBe(1);
  });

  it("abandons an attempt whose answer stalls (the client ignoring the signal), then retries", async () => {
    const policy = createPolicy({ timeoutMs: 100, attempts: 2, maxInFlight: 5, baseDelayMs: 10 });
    let n = 0;
    // The attempts never settle: getting an answer at all proves they were abandoned.
    await expect(
      policy.run(never, () => {
        n++;
        return new Promise(() => undefined);
      }),
    ).rejects.toBeInstanceOf(AttemptTimeout);
    expect(n).toBe(2);
  });

  it("stops at once when the invocation's signal aborts, and starts nothing after", async () => {
    const policy = createPolicy({ timeoutMs: 10_000, attempts: 5, maxInFlight: 5 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("deadline")), 50);
    // timeoutMs is 10 s and the call never settles: only the abort can end it before the test's 5 s limit.
    await expect(policy.run(controller.signal, () => new Promise(() => undefined))).rejects.toThrow("deadline");
    let called = false;
    await expect(policy.run(controller.signal, async () => (called = true))).rejects.toThrow("deadline");
    expect(called).toBe(false);
  });

  it("keeps at most maxInFlight calls running", async () => {
    const policy = createPolicy({ timeoutMs: 1000, attempts: 1, maxInFlight: 3 });
    let inFlight = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        policy.run(never, async () => {
          peak = Math.max(peak, ++inFlight);
          await new Promise((r) => setTimeout(r, 5));
          inFlight--;
        }),
      ),
    );
    expect(peak).toBe(3);
  });
});

describe("guards", () => {
  const RULE = "ef7869b2-7a80-4ed3-ad63-546ce5953647";
  const WS = { subscriptionId: "3db968d7-cad1-4856-a953-89d2160c03a5", resourceGroup: "rg-sentinel", name: "law-sentinel-prod" };
  const ruleId = (guid: string, ws = WS) => ruleArmId(ws, guid);
  const now = Date.parse("2026-11-29T12:00:00Z");
  const incident = (over: Partial<IncidentState> = {}): IncidentState => ({
    id: "/x",
    name: "i",
    etag: '"e"',
    title: "t",
    severity: "Medium",
    status: "New",
    labels: [],
    ruleIds: [ruleId(RULE)],
    alertProductNames: ["Azure Sentinel"],
    createdTimeUtc: new Date(now - 3_600_000),
    ...over,
  });
  const config = loadConfig({
    SENTINEL_SUBSCRIPTION_ID: WS.subscriptionId,
    SENTINEL_RESOURCE_GROUP: WS.resourceGroup,
    SENTINEL_WORKSPACE_NAME: WS.name,
    SENTINEL_RULE_IDS: RULE,
    STATE_TABLE_CONNECTION: "UseDevelopmentStorage=true",
  });
  const alertReads: string[] = [];
  const sentinel = {
    listAlertProducts: async (id: string) => (alertReads.push(id), ["Microsoft Sentinel", "Microsoft Defender for Cloud Apps"]),
  } as unknown as SentinelGateway;
  const held = async (i: IncidentState) =>
    (await checkIncident(i, { config, sentinel, now: () => now }, new AbortController().signal))
      .filter((d) => d.result === "hold")
      .map((d) => d.guard);

  it("passes only the removal rule's own New, unowned, unlabelled, recent incident", async () => {
    expect(await held(incident())).toEqual([]);
    expect(await held(incident({ alertProductNames: ["Microsoft Sentinel"] }))).toEqual([]);
    expect(await held(incident({ ownerType: "Group", owner: { assignedTo: "Tier 1 queue" } }))).toEqual([]);
  });

  it("holds merged incidents, other statuses, the hold label and reopened incidents", async () => {
    expect(await held(incident({ ruleIds: [ruleId(RULE), ruleId("0b9ae89d-8cad-461c-808f-0494f70ad5c4")] }))).toEqual(["alerts"]);
    expect(await held(incident({ alertProductNames: ["Azure Sentinel", "Microsoft Defender for Identity"] }))).toEqual(["alerts"]);
    expect(await held(incident({ ruleIds: [] }))).toEqual(["alerts"]);
    expect(await held(incident({ status: "Active" }))).toEqual(["status"]);
    expect(await held(incident({ labels: ["No-Auto-Remediation"] }))).toEqual(["hold-label"]);
    expect(await held(incident({ labels: [" no-auto-remediation "] }))).toEqual(["hold-label"]);
    expect(await held(incident({ labels: ["auto-remediated"] }))).toEqual(["reopened"]);
  });

  it("matches rules as full ARM ids of the configured workspace: the same GUID in another workspace is not ours", async () => {
    expect(await held(incident({ ruleIds: [ruleId(RULE, { ...WS, name: "law-other" })] }))).toEqual(["alerts"]);
    expect(await held(incident({ ruleIds: [RULE] }))).toEqual(["alerts"]);
  });

  it("holds an incident a person owns, and one older than SWEEP_MAX_AGE_HOURS", async () => {
    expect(await held(incident({ ownerType: "User", owner: { assignedTo: "Ana Analyst" } }))).toEqual(["owner"]);
    expect(await held(incident({ createdTimeUtc: new Date(now - 73 * 3_600_000) }))).toEqual(["age"]);
    expect(await held(incident({ createdTimeUtc: undefined }))).toEqual(["age"]);
  });

  it("reads the alerts when the incident does not list their products, and decides from them", async () => {
    alertReads.length = 0;
    expect(await held(incident({ alertProductNames: undefined }))).toEqual(["alerts"]);
    expect(alertReads).toEqual(["i"]);
  });

  it("holds an incident naming more users than allowed", () => {
    const users = Array.from({ length: 3 }, (_, i) => ({ objectId: `u${i}`, source: "aadUserId" as const }));
    expect(checkUserCount(users, 3).result).toBe("pass");
    expect(checkUserCount(users, 2)).toMatchObject({ result: "hold", reason: expect.stringContaining("MAX_USERS_PER_INCIDENT") });
  });
});

describe("sweeper: which incidents are due", () => {
  const now = Date.now();
  const i = (modifiedAgoMs: number) => ({ lastModifiedTimeUtc: new Date(now - modifiedAgoMs) }) as IncidentState;
  const rec = (outcome: string, extra: object = {}) => ({
    outcome,
    dryRun: false,
    failures: 0,
    comments: 1,
    updatedAt: now - 3_600_000,
    ...extra,
  });
  const enforcing = { maxAttempts: 5, dryRun: false, includeDryRun: false, now };

  it("runs what waits, retries failures up to the limit in every state, re-evaluates changed incidents", () => {
    expect(dueReason(i(0), undefined, enforcing)).toMatch(/no run recorded/);
    expect(dueReason(i(0), rec("awaiting-delivery"), enforcing)).toMatch(/delivery/);
    expect(dueReason(i(0), rec("reprocess-requested"), enforcing)).toMatch(/delivery/);
    expect(dueReason(i(0), rec("capped"), enforcing)).toMatch(/hourly cap/);
    expect(dueReason(i(0), rec("failed", { failures: 2 }), enforcing)).toBe("attempt 3 of 5");
    expect(dueReason(i(0), rec("failed", { failures: 5 }), enforcing)).toBeUndefined();
    expect(dueReason(i(0), rec("awaiting-delivery", { failures: 5 }), enforcing)).toBeUndefined();
    // Held earlier: left alone unless someone changed the incident after the app's run.
    expect(dueReason(i(7_200_000), rec("held"), enforcing)).toBeUndefined();
    expect(dueReason(i(0), rec("held"), enforcing)).toMatch(/changed/);
  });

  it("leaves leased incidents alone, and dry-run ones unless told to reach back", () => {
    expect(dueReason(i(0), rec("awaiting-delivery", { lease: { owner: "x", until: now + 1000 } }), enforcing)).toBeUndefined();
    expect(dueReason(i(0), rec("awaiting-delivery", { lease: { owner: "x", until: now - 1 } }), enforcing)).toMatch(/delivery/);
    expect(dueReason(i(0), rec("dry-run", { dryRun: true }), enforcing)).toBeUndefined();
    expect(dueReason(i(0), rec("failed", { dryRun: true, failures: 0 }), enforcing)).toBeUndefined();
    expect(dueReason(i(0), rec("dry-run", { dryRun: true }), { ...enforcing, includeDryRun: true })).toMatch(/now enforcing/);
    expect(dueReason(i(7_200_000), rec("dry-run", { dryRun: true }), { ...enforcing, dryRun: true })).toBeUndefined();
  });
});

describe("roundTrips", () => {
  const r = (start: number, end: number) => ({
    seq: 0,
    service: "graph" as const,
    method: "GET",
    path: "/",
    query: {},
    status: 200,
    start,
    end,
  });

  it("counts a request as a new round trip only when it starts after everything before it ended", () => {
    expect(roundTrips([])).toBe(0);
    expect(roundTrips([r(0, 40), r(1, 41), r(45, 85), r(50, 90), r(90, 130), r(131, 170)])).toBe(4);
    expect(roundTrips([r(0, 40), r(30, 70), r(60, 100)])).toBe(1);
  });
});
