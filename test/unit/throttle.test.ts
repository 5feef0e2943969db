/**
 * The learned Graph request rate (src/throttle.ts) on a clock the test moves: requests spaced at
 * the rate, additive increase on answers, one multiplicative cut per second of 429s, down to what
 * was actually served.
 */
import { describe, expect, it } from "vitest";
import { createThrottle } from "../../src/throttle";

function clocked(options: { initialPerSecond: number; burst?: number }) {
  let t = 0;
  const waits: number[] = [];
  const throttle = createThrottle({
    ...options,
    now: () => t,
    wait: async (ms) => {
      waits.push(ms);
    },
  });
  return { throttle, waits, advance: (ms: number) => (t += ms) };
}
const never = new AbortController().signal;

describe("throttle", () => {
  it("lets a burst go at once, then spaces requests at the rate", async () => {
    const { throttle, waits } = clocked({ initialPerSecond: 100, burst: 3 });
    for (let i = 0; i < 6; i++) await throttle.take(never);
    // Three at once, then one every 10 ms.
    expect(waits).toEqual([10, 20, 30]);
  });

  it("raises the rate by about 2 requests per second per second of answers, never above where it started", () => {
    const { throttle } = clocked({ initialPerSecond: 100 });
    throttle.throttled(0); // nothing served yet: cut to 90
    expect(throttle.rate).toBeCloseTo(90);
    for (let i = 0; i < 90; i++) throttle.answered(); // one second of traffic at 90/s
    expect(throttle.rate).toBeGreaterThan(91.9);
    expect(throttle.rate).toBeLessThan(92.1);
    for (let i = 0; i < 10_000; i++) throttle.answered();
    expect(throttle.rate).toBe(100);
  });

  it("cuts at most once a second, to 90% of what was served in the last second; 429s of requests sent before the cut never cut again", async () => {
    const { throttle, advance } = clocked({ initialPerSecond: 350 });
    const sent: number[] = [];
    for (let i = 0; i < 100; i++) {
      advance(10);
      sent.push(await throttle.take(never));
      throttle.answered();
    }
    // 100 answered in the last second: the budget is about 100/s, not 350.
    for (const at of sent.slice(-20)) throttle.throttled(at);
    expect(throttle.rate).toBeCloseTo(90, 0);
    // Every request sent before that cut was at the old rate: no second cut.
    throttle.throttled(sent[99] as number);
    expect(throttle.rate).toBeCloseTo(90, 0);
    advance(5);
    const after = await throttle.take(never);
    throttle.throttled(after); // sent after the cut, but within the second: no cut
    expect(throttle.rate).toBeCloseTo(90, 0);
    advance(1001);
    throttle.throttled(after); // a second later, nothing served since: 90% of the current rate
    expect(throttle.rate).toBeCloseTo(81, 0);
  });

  it("stops waiting when the signal aborts", async () => {
    const throttle = createThrottle({ initialPerSecond: 1, burst: 1 });
    await throttle.take(never);
    const controller = new AbortController();
    const waiting = throttle.take(controller.signal);
    controller.abort(new Error("deadline"));
    await expect(waiting).rejects.toThrow("deadline");
  });
});
