import { app, type InvocationContext, type Timer } from "@azure/functions";
import { depsFromEnvironment } from "../clients";
import { sweepOpenIncidents, SWEEP_DEADLINE_MS, SWEEP_DEFAULTS } from "../core/sweep";
import { contextLogger, deadline } from "../deps";
import { DeadlineError } from "../errors";

/** Timer: runs the incidents whose webhook never arrived or that wait for something (see src/core/sweep.ts). */
export async function sweepIncidents(_timer: Timer, context: InvocationContext, getDeps = depsFromEnvironment): Promise<void> {
  const run = deadline(SWEEP_DEADLINE_MS, () => new DeadlineError(SWEEP_DEADLINE_MS / 1000));
  try {
    await sweepOpenIncidents(getDeps(), contextLogger(context), run.signal, { ...SWEEP_DEFAULTS, invocationId: context.invocationId });
  } finally {
    run.clear();
  }
}

/** Registers the timer with the validated schedule (src/index.ts calls this at start-up). */
export function registerSweep(schedule: string): void {
  app.timer("sweepIncidents", { schedule, handler: (timer, context) => sweepIncidents(timer, context) });
}
