import { describe, expect, it } from "vitest";
import { decisionLine, decisionRecord, DECISION_RECORD, MAX_RECORDED_PAIRS } from "../../src/core/decisionRecord";
import type { RemediationSummary } from "../../src/core/report";
import { summaryOf } from "../helpers";

const U = "7fd86a5c-d607-47e1-bdf8-d50f3d6637ce";
const G = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";

const summary = (over: Partial<RemediationSummary> = {}): RemediationSummary =>
  summaryOf({
    incident: { id: "inc-1", number: 42 },
    users: [{ objectId: U, source: "aadUserId" }],
    groups: [G],
    groupNames: { [G]: "sg-Finance" },
    decisions: [
      { guard: "risk", userId: U, result: "hold", reason: "at risk" },
      { guard: "risk", userId: "other", result: "hold", reason: "at risk" },
      { guard: "status", result: "pass", reason: "New" },
    ],
    notRestored: [{ userId: U, kind: "group", targetId: G, reason: "held" }],
    message: "held",
    ...over,
  });

describe("decision records", () => {
  it("names each holding guard once, counts what was not restored, and carries no reasons or names of people", () => {
    const r = decisionRecord(summary(), Date.UTC(2026, 10, 20, 9, 0));
    expect(r).toEqual({
      v: 1,
      incidentId: "inc-1",
      incidentNumber: 42,
      outcome: "held",
      dryRun: false,
      at: "2026-11-20T09:00:00.000Z",
      holds: ["risk"],
      users: 1,
      reprocessed: 0,
      restored: [],
      restoredCount: 0,
      notRestored: 1,
    });
  });

  it("lists restored pairs with the group's name, at most MAX_RECORDED_PAIRS, and the wave's time", () => {
    const restored = Array.from({ length: MAX_RECORDED_PAIRS + 5 }, () => ({ userId: U, kind: "group" as const, targetId: G }));
    const r = decisionRecord(summary({ outcome: "remediated", restored }), 2_000, 1_000);
    expect(r.restored).toHaveLength(MAX_RECORDED_PAIRS);
    expect(r.restored[0]).toEqual({ userId: U, kind: "group", targetId: G, targetName: "sg-Finance" });
    expect(r.restoredCount).toBe(MAX_RECORDED_PAIRS + 5);
    expect(r.requestedAt).toBe("1970-01-01T00:00:01.000Z");
  });

  it("is one line: the prefix, a space, the JSON", () => {
    const line = decisionLine(decisionRecord(summary(), 0));
    expect(line.startsWith(`${DECISION_RECORD} {`)).toBe(true);
    expect(line).not.toContain("\n");
    expect(JSON.parse(line.slice(DECISION_RECORD.length + 1))).toMatchObject({ outcome: "held" });
  });
});
