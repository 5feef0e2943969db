import { setTimeout as sleep } from "node:timers/promises";

/**
 * A request rate that learns a service's budget instead of finding it by being throttled
 * (additive increase, multiplicative decrease, as TCP finds a link's capacity):
 *
 * - Requests leave evenly spaced at the current rate; after a quieter spell up to `burst` may go
 *   at once (an incident's wave of reads stays one round trip), without raising the average.
 * - Each answered request raises the rate by INCREASE_PER_SECOND per second of traffic.
 * - A 429 lowers it to DECREASE × the rate actually served in the last second (or the current
 *   rate, when lower), at most once a second, and never for a request that left before the last
 *   cut (it was sent at the old rate): the 429s of a burst already in flight count once.
 *
 * Several instances sharing one tenant's budget each run their own rate; AIMD shares the budget
 * between them fairly, as TCP flows share a link.
 */
export interface Throttle {
  /** Waits for this request's turn and returns when it left (for `throttled`); stops when `signal` aborts. */
  take(signal: AbortSignal): Promise<number>;
  /** The service answered (anything but 429). */
  answered(): void;
  /** The service answered 429 to a request sent at `sentAt` (this throttle's clock). */
  throttled(sentAt: number): void;
  /** Requests per second now. */
  readonly rate: number;
}

export interface ThrottleOptions {
  /** Where the rate starts and the most it rises to (requests per second). */
  initialPerSecond: number;
  /** Requests that may leave at once after a quiet spell. */
  burst?: number;
  now?: () => number;
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** The slowest rate, the additive increase (per second of traffic) and the multiplicative decrease. */
const MIN_PER_SECOND = 1;
const INCREASE_PER_SECOND = 2;
const DECREASE = 0.9;

export function createThrottle(options: ThrottleOptions): Throttle {
  const now = options.now ?? Date.now;
  const wait =
    options.wait ??
    ((ms: number, signal: AbortSignal) =>
      sleep(ms, undefined, { signal }).catch((error: unknown) => {
        throw signal.aborted ? (signal.reason as Error) : error;
      }));
  const max = options.initialPerSecond;
  const burst = options.burst ?? 5;
  let rate = max;
  let next = -Infinity;
  let lastCut = -Infinity;
  // lastCut is when the rate last fell; requests that left before it were sent at the old rate.
  const served: number[] = [];

  const servedLastSecond = (at: number): number => {
    while (served.length > 0 && (served[0] as number) <= at - 1000) served.shift();
    return served.length;
  };

  return {
    get rate() {
      return rate;
    },
    async take(signal) {
      const at = now();
      const gap = 1000 / rate;
      const slot = Math.max(next, at - gap * (burst - 1));
      next = slot + gap;
      if (slot > at) await wait(slot - at, signal);
      return now();
    },
    answered() {
      const at = now();
      served.push(at);
      servedLastSecond(at);
      rate = Math.min(max, rate + INCREASE_PER_SECOND / rate);
    },
    throttled(sentAt) {
      const at = now();
      if (sentAt <= lastCut || at - lastCut < 1000) return;
      lastCut = at;
      const measured = servedLastSecond(at);
      rate = Math.max(MIN_PER_SECOND, DECREASE * Math.min(rate, measured > 0 ? measured : rate));
      // Requests already spaced at the old rate keep their turns; new ones follow the new rate.
      next = Math.max(next, at + 1000 / rate);
    },
  };
}
