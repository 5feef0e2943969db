import { app, type InvocationContext, type Timer } from "@azure/functions";
import { depsFromEnvironment } from "../clients";
import { DEFAULT_SWEEP_SCHEDULE } from "../config";
import { sweepOpenIncidents } from "../core/sweep";
import { contextLogger } from "./remediateIncident";

/** Timer: remediates incidents whose webhook never arrived (see src/core/sweep.ts). */
export async function sweepIncidents(_timer: Timer, context: InvocationContext): Promise<void> {
  await sweepOpenIncidents(depsFromEnvironment(), contextLogger(context));
}

app.timer("sweepIncidents", {
  // Read here rather than as a %SWEEP_SCHEDULE% binding expression so that the default applies
  // when the setting is absent; src/config.ts validates it at start-up.
  schedule: process.env.SWEEP_SCHEDULE?.trim() || DEFAULT_SWEEP_SCHEDULE,
  handler: sweepIncidents,
});
