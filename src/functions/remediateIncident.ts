import { app, type HttpHandler } from "@azure/functions";
import { depsFromEnvironment } from "../clients";
import { remediateIncident } from "../core/remediate";
import { contextLogger, deadline, WEBHOOK_DEADLINE_MS, type Deps } from "../deps";
import { DeadlineError } from "../errors";
import { errorResponse, readIncidentRequest, summaryResponse } from "../http";


/**
 * POST /api/remediateIncident with the Sentinel incident trigger body (what the playbook forwards).
 * The body is only a pointer: the incident and its entities are re-read from Sentinel.
 */
export function createRemediateHandler(getDeps: () => Deps, deadlineMs = WEBHOOK_DEADLINE_MS): HttpHandler {
  return async (request, context) => {
    const log = contextLogger(context);
    const run = deadline(deadlineMs, () => new DeadlineError(Math.round(deadlineMs / 1000)));
    try {
      const pointer = await readIncidentRequest(request);
      log.info(`webhook for incident ${pointer.incidentId}`);
      return summaryResponse(await remediateIncident(pointer, getDeps(), log, run.signal));
    } catch (error) {
      return errorResponse(run.signal.aborted ? run.signal.reason : error, log, context.invocationId);
    } finally {
      run.clear();
    }
  };
}

/** Registers the webhook (src/index.ts calls this at start-up). */
export function registerRemediate(): void {
  app.http("remediateIncident", { methods: ["POST"], authLevel: "function", handler: createRemediateHandler(depsFromEnvironment) });
}
