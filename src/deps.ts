import { setMaxListeners } from "node:events";
import type { Config } from "./config";
import type { GraphGateway } from "./graph";
import type { SentinelGateway } from "./sentinel";
import type { StateStore } from "./store";

/**
 * Where the app writes what it does. `debug` is each step (the host logs it at Debug, off unless
 * host.json or `AzureFunctionsJobHost__logging__logLevel__Function` raises it; the CLI with
 * `--verbose`); `info` is each outcome and its decision record (the workbook's source).
 */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Long-lived dependencies, built once per instance (src/clients.ts). */
export interface Deps {
  config: Config;
  graph: GraphGateway;
  sentinel: SentinelGateway;
  store: StateStore;
  now: () => number;
}

/** A Logger that writes through a Functions invocation context. */
export function contextLogger(context: {
  debug(m: string): void;
  info(m: string): void;
  warn(m: string): void;
  error(m: string): void;
}): Logger {
  return {
    debug: (m) => context.debug(m),
    info: (m) => context.info(m),
    warn: (m) => context.warn(m),
    error: (m) => context.error(m),
  };
}

/**
 * The webhook answers within this long, safely inside the ~120 s a Logic Apps HTTP action waits
 * for a synchronous response. At the deadline every call in flight is aborted and nothing more
 * is done; the caller gets 503 and retries. The CLI's replay uses the same deadline.
 */
export const WEBHOOK_DEADLINE_MS = 100_000;

/** Listeners one run's signal may hold at once: the calls in flight and waiting for a slot. */
const MAX_SIGNAL_LISTENERS = 200;

/**
 * Every call in flight listens to a run's signal (and removes its listener when it ends): up to
 * the in-flight bounds of Graph, ARM and the table at once, more than Node's default warning
 * threshold of 10, which is not a leak. Every signal a run's calls share goes through here.
 */
export function forCallsInFlight(signal: AbortSignal): AbortSignal {
  setMaxListeners(MAX_SIGNAL_LISTENERS, signal);
  return signal;
}

/**
 * An AbortSignal that aborts with `reason()` after `ms`, and `clear()` for when the run has
 * answered: it cancels the timer and aborts whatever is still in flight (a read started in
 * parallel with one that failed), so that nothing runs after the answer.
 */
/** A run's deadline: the signal every call carries, and `clear()` once the run has answered. */
export interface Deadline {
  signal: AbortSignal;
  clear: () => void;
}

export function deadline(ms: number, reason: () => Error): Deadline {
  const controller = new AbortController();
  forCallsInFlight(controller.signal);
  const timer = setTimeout(() => controller.abort(reason()), ms);
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      controller.abort(new Error("the run has answered"));
    },
  };
}
