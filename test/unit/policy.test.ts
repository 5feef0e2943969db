/** src/policy.ts: timeouts, retries, throttling and the in-flight bound. */
import { describe, expect, it } from "vitest";
import { AttemptTimeout, createPolicy, retryAfterMs } from "../../src/policy";
import { createThrottle } from "../../src/throttle";

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

describe("call policy with a learned rate (Graph)", () => {
  const never = new AbortController().signal;
  it("a 429 lowers the rate and delays only the throttled call; other calls go on without waiting out its Retry-After", async () => {
    const throttle = createThrottle({ initialPerSecond: 1000 });
    const policy = createPolicy({ timeoutMs: 5000, attempts: 2, maxInFlight: 5, baseDelayMs: 10, throttle });
    const events: string[] = [];
    let first = true;
    const stop = new AbortController();
    const throttled = policy.run(stop.signal, async () => {
      if (first) {
        first = false;
        events.push("429");
        throw Object.assign(new Error("status 429"), { statusCode: 429, headers: new Headers({ "retry-after": "30" }) });
      }
      events.push("retried");
      return "late";
    });
    // Let the 429 land, then another call: it is answered while the first waits its 30 s.
    await new Promise((ok) => setTimeout(ok, 20));
    expect(await policy.run(never, async () => (events.push("other"), "now"))).toBe("now");
    expect(events).toEqual(["429", "other"]);
    expect(throttle.rate).toBeLessThan(1000);
    // The throttled call is still waiting out its Retry-After; its deadline stops it.
    stop.abort(new Error("deadline"));
    await expect(throttled).rejects.toThrow();
    expect(events).toEqual(["429", "other"]);
  });
});
