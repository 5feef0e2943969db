/**
 * The world simulation in CI: 2,000 seeded schedules of the real pipeline and clients against the
 * in-process fake tenant, with the world changing at every call (test/sim/simulate.ts), and not
 * one invariant violation. A failing schedule is reported with its seed and how to replay it.
 */
import { describe, expect, it } from "vitest";
import { runSchedule, simulate } from "./simulate";

describe("world simulation", () => {
  it("keeps every invariant over 2,000 schedules", { timeout: 300_000 }, async () => {
    const result = await simulate({ runs: 2000, seed: 20261206 });
    const report = result.failed
      .slice(0, 3)
      .map((f) => `seed ${f.seed}: ${f.violations.join("; ")}\n  replay: npm run simulate -- --runs 1 --seed ${f.seed} --trace`);
    expect(report).toEqual([]);
    expect(result.schedules).toBe(2000);
    // The world really moved: every kind of change was drawn, and runs were crashed and retried.
    expect(Object.values(result.changes).filter((n) => n > 0).length).toBe(16);
    expect(result.runs).toBeGreaterThan(result.schedules);
  });

  it("is deterministic by seed", async () => {
    const [a, b] = [await runSchedule(187), await runSchedule(187)];
    expect(a.trace).toEqual(b.trace);
    expect(a.trace.length).toBeGreaterThan(20);
  });
});
