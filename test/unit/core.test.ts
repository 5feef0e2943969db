import { describe, expect, it } from "vitest";
import { mapLimit } from "../../src/core/concurrency";
import { extractEntities } from "../../src/core/entities";
import { planReprocess } from "../../src/core/plan";
import { renderComment, renderText, stableId, type RemediationSummary } from "../../src/core/report";
import { reuseTokens } from "../../src/clients";
import type { Assignment } from "../../src/graph";
import { roundTrips } from "../bench/app-worker";

const U1 = "7fd86a5c-d607-47e1-bdf8-d50f3d6637ce";
const U2 = "f1f722c3-a5bd-4c3f-855f-e56601d8d5c9";
const G1 = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";
const G2 = "f611c99c-f011-4175-9a8b-035d01f50ea3";

describe("extractEntities", () => {
  it("prefers aadUserId, falls back to objectGuid, dedupes and keeps a name", () => {
    const r = extractEntities([
      { kind: "Account", properties: { aadUserId: U1.toUpperCase(), objectGuid: "11111111-1111-1111-1111-111111111111", accountName: "adele", upnSuffix: "contoso.example" } },
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

const a = (id: string, state: string, pkg = "p1"): Assignment => ({ id, state, accessPackageId: pkg, accessPackageName: pkg.toUpperCase() });

describe("planReprocess", () => {
  it("with a known group keeps only assignments whose package grants it", () => {
    const plan = planReprocess([{ userId: U1, assignments: [a("a1", "delivered", "p1"), a("a2", "delivered", "p2")] }], [G1], new Map([["p1", [G1]], ["p2", [G2]]]));
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a1"]);
    expect(plan.skipped).toEqual([expect.objectContaining({ assignmentId: "a2", reason: "access package does not grant the group in the incident" })]);
  });

  it("without a group considers all, reprocessing only delivered ones", () => {
    const plan = planReprocess(
      [{ userId: U1, assignments: [a("a1", "delivered"), a("a2", "expired"), a("a3", "partiallyDelivered"), a("a4", "deliveryFailed"), a("a5", "unknownFutureValue")] }],
      [],
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
    const plan = planReprocess([{ userId: U1, assignments: [a("a1", "delivered")] }, { userId: U2, assignments: [a("a1", "delivered")] }], [], new Map());
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

  it("renders an escaped HTML comment naming users, packages and reasons", () => {
    const html = renderComment(summary());
    expect(html).toContain("&lt;b&gt;adele&lt;/b&gt;");
    expect(html).toContain("Finance &amp; Ops");
    expect(html).toContain("assignment has expired");
    expect(html).not.toContain("<b>adele");
  });

  it("keeps a comment under Sentinel's 30,000 character limit", () => {
    const s = summary();
    s.skipped = Array.from({ length: 2000 }, (_, i) => ({ userId: U1, assignmentId: `a${i}`, accessPackageId: "p", state: "expired", reason: "assignment has expired" }));
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

describe("mapLimit", () => {
  it("keeps order, bounds concurrency and records failures without stopping", async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (n === 4) throw new Error("four");
      return n * 10;
    });
    expect(peak).toBe(3);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([10, 20, 30, "four", 50, 60, 70]);
  });

  it("handles an empty list", async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});

describe("reuseTokens", () => {
  const token = (ms: number) => ({ token: `t${ms}`, expiresOnTimestamp: Date.now() + ms });

  it("asks the credential once while the token has more than two minutes left, sharing concurrent requests", async () => {
    let calls = 0;
    const credential = reuseTokens({ getToken: async () => (calls++, token(3600_000)) });
    const got = await Promise.all([credential.getToken("a/.default"), credential.getToken("a/.default")]);
    await credential.getToken("a/.default");
    expect(calls).toBe(1);
    expect(got[0]).toBe(got[1]);
    await credential.getToken(["b/.default"]);
    expect(calls).toBe(2);
  });

  it("asks again when the token is about to expire or the last request failed", async () => {
    let calls = 0;
    const answers = [token(60_000), token(3600_000)];
    const credential = reuseTokens({ getToken: async () => answers[calls++] ?? null });
    await credential.getToken("a/.default");
    await credential.getToken("a/.default");
    expect(calls).toBe(2);

    let fail = true;
    const flaky = reuseTokens({
      getToken: async () => {
        if (fail) throw new Error("down");
        return token(3600_000);
      },
    });
    await expect(flaky.getToken("a/.default")).rejects.toThrow("down");
    fail = false;
    await expect(flaky.getToken("a/.default")).resolves.toMatchObject({ token: expect.any(String) });
  });
});

describe("roundTrips", () => {
  const r = (start: number, end: number) => ({ seq: 0, service: "graph" as const, method: "GET", path: "/", query: {}, status: 200, start, end });

  it("counts a request as a new round trip only when it starts after everything before it ended", () => {
    expect(roundTrips([])).toBe(0);
    expect(roundTrips([r(0, 40), r(1, 41), r(45, 85), r(50, 90), r(90, 130), r(131, 170)])).toBe(4);
    expect(roundTrips([r(0, 40), r(30, 70), r(60, 100)])).toBe(1);
  });
});
