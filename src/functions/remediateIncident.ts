import { app, type HttpHandler } from "@azure/functions";
import { depsFromEnvironment } from "../clients";
import { remediateIncident } from "../core/remediate";
import { contextLogger, deadline, WEBHOOK_DEADLINE_MS, type Deps } from "../deps";
import { DeadlineError } from "../errors";
import { assertCaller, errorResponse, readIncidentRequest, summaryResponse } from "../http";

/**
 * POST /api/remediateIncident with the Sentinel incident trigger body (what the playbook forwards).
 * The body is only a pointer: the incident and its entities are re-read from Sentinel.
 * With `caller` (Entra ID mode), only that identity, as App Service authentication reports it, gets in.
 */
export function createRemediateHandler(getDeps: () => Deps, deadlineMs = WEBHOOK_DEADLINE_MS, caller?: string): HttpHandler {
  return async (request, context) => {
    const log = contextLogger(context);
    const run = deadline(deadlineMs, () => new DeadlineError(Math.round(deadlineMs / 1000)));
    try {
      if (caller) assertCaller(request, caller);
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

/**
 * Registers the webhook (src/index.ts calls this at start-up). With an allowed caller, App Service
 * authentication (Entra ID) guards the route and no function key is asked for; otherwise the key is.
 */
export function registerRemediate(caller?: string): void {
  app.http("remediateIncident", {
    methods: ["POST"],
    authLevel: caller ? "anonymous" : "function",
    handler: createRemediateHandler(depsFromEnvironment, WEBHOOK_DEADLINE_MS, caller),
  });
}
