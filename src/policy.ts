import { setTimeout as sleep } from "node:timers/promises";
import { refusedLocally, statusOf } from "./errors";
import type { Throttle } from "./throttle";

/**
 * The one timeout, retry and throttle policy for every Graph and Sentinel call.
 *
 * - Each attempt has its own timeout covering the whole answer, body included: the attempt runs
 *   under a signal that aborts when the timeout passes or the invocation's deadline does, and
 *   the attempt is abandoned then even if the client underneath ignored the signal.
 * - Retries: no answer (timeout, reset), 408, 429, 500, 502, 503, 504; at most `attempts` tries.
 *   429/503 honour Retry-After; without it the wait grows exponentially (with jitter).
 * - One Retry-After for the service: after a 429 every call of this instance waits it out; or,
 *   with a `throttle` (Graph), the 429'd call waits it out while the throttle lowers the rate of
 *   every call (src/throttle.ts), so the instance keeps the budget it has without stalling.
 * - At most `maxInFlight` calls at once per instance; waiting for a slot also stops at the deadline.
 * - The invocation's signal stops everything: no new attempt, no wait, no call after it aborts.
 */
export interface CallPolicy {
  run<T>(signal: AbortSignal, attempt: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

export interface PolicyOptions {
  timeoutMs: number;
  attempts: number;
  maxInFlight: number;
  /** First backoff step; doubles on each retry. */
  baseDelayMs?: number;
  /** Longest single wait, Retry-After included; a longer Retry-After fails the call instead. */
  maxDelayMs?: number;
  /** The service's learned request rate: every attempt waits its turn and reports its answer. */
  throttle?: Throttle;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/** Raised when an attempt got no complete answer within its timeout. */
export class AttemptTimeout extends Error {
  override readonly name = "AttemptTimeout";
}

/** Raised when the connection failed before any answer (reset, refused, TLS). */
export class NoAnswer extends Error {
  override readonly name = "NoAnswer";
}

export function createPolicy(options: PolicyOptions): CallPolicy {
  const { timeoutMs, attempts, maxInFlight, throttle } = options;
  const baseDelay = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  let pausedUntil = 0;
  let active = 0;
  const waiting: (() => void)[] = [];

  const acquire = async (signal: AbortSignal): Promise<void> => {
    if (active < maxInFlight) {
      active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        waiting.splice(waiting.indexOf(go), 1);
        reject(signal.reason as Error);
      };
      const go = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      waiting.push(go);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  };
  const release = () => {
    const next = waiting.shift();
    if (next)
      next(); // the slot passes straight to the next caller
    else active--;
  };

  const once = async <T>(signal: AbortSignal, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    const timedOut = new AttemptTimeout(`no complete answer within ${timeoutMs} ms`);
    const timer = setTimeout(() => controller.abort(timedOut), timeoutMs);
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    // Settles when the attempt's signal aborts, whether or not the client underneath notices.
    let stop: (() => void) | undefined;
    const stopped = new Promise<never>((_, reject) => {
      stop = () => reject(controller.signal.reason as Error);
      controller.signal.addEventListener("abort", stop, { once: true });
    });
    try {
      const work = attempt(controller.signal);
      work.catch(() => undefined); // once abandoned, its late failure is not ours to report
      return await Promise.race([work, stopped]);
    } catch (error) {
      if (controller.signal.aborted) throw controller.signal.reason as Error;
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (stop) controller.signal.removeEventListener("abort", stop);
    }
  };

  return {
    async run(signal, attempt) {
      for (let n = 1; ; n++) {
        signal.throwIfAborted();
        const pause = pausedUntil - Date.now();
        if (pause > 0) await sleep(pause, undefined, { signal });
        const sentAt = throttle ? await throttle.take(signal) : 0;
        await acquire(signal);
        let error: unknown;
        try {
          const answer = await once(signal, attempt);
          throttle?.answered();
          return answer;
        } catch (e) {
          error = e;
        } finally {
          release();
        }
        if (signal.aborted) throw signal.reason as Error;
        const status = statusOf(error);
        if (status === 429) throttle?.throttled(sentAt);
        else if (status !== undefined) throttle?.answered();
        // A refused connection on loopback (Azurite or the fake tenant not started) fails at once.
        const retryable = status === undefined ? isNoAnswer(error) && !refusedLocally(error) : RETRYABLE.has(status);
        if (!retryable || n >= attempts) throw error;
        const retryAfter = retryAfterMs(error);
        if (retryAfter !== undefined && retryAfter > maxDelay) throw error;
        const backoff = Math.min(maxDelay, baseDelay * 2 ** (n - 1)) * (0.8 + Math.random() * 0.4);
        const wait = retryAfter ?? (status === 429 ? Math.max(1000, backoff) : backoff);
        if (status === 429 && !throttle) pausedUntil = Math.max(pausedUntil, Date.now() + wait);
        await sleep(wait, undefined, { signal });
      }
    },
  };
}

/** A timeout or a connection-level failure: no HTTP answer at all. */
function isNoAnswer(error: unknown): boolean {
  if (error instanceof AttemptTimeout || error instanceof NoAnswer) return true;
  const e = error as { name?: string; code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? "";
  return (
    e.name === "AbortError" ||
    e.name === "TimeoutError" ||
    /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_|REQUEST_SEND_ERROR)/.test(code) ||
    e.name === "TypeError"
  );
}

/** Retry-After of a failed answer, in milliseconds (seconds or an HTTP date), when it has one. */
export function retryAfterMs(error: unknown): number | undefined {
  const e = error as {
    headers?: { get?(name: string): string | null | undefined };
    response?: { headers?: { get?(name: string): string | null | undefined } };
  };
  const value = e?.headers?.get?.("retry-after") ?? e?.response?.headers?.get?.("retry-after");
  if (value === undefined || value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
