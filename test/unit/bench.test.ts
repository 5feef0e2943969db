/** test/bench/app-worker.ts: how the benchmark counts round trips. */
import { describe, expect, it } from "vitest";
import { roundTrips } from "../bench/app-worker";

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
