/** src/core/sweep.ts: which incidents the sweeper runs. */
import { describe, expect, it } from "vitest";
import { dueReason } from "../../src/core/sweep";
import type { IncidentState } from "../../src/sentinel";
import type { PersistedState } from "../../src/store";

describe("sweeper: which incidents are due", () => {
  const now = Date.now();
  const i = (modifiedAgoMs: number) => ({ lastModifiedTimeUtc: new Date(now - modifiedAgoMs) }) as IncidentState;
  const rec = (outcome: PersistedState, extra: object = {}) => ({
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
