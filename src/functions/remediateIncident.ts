import { app, type HttpHandler } from "@azure/functions";
import { createCallerCheck, type CallerCheck } from "../auth";
import { depsFromEnvironment } from "../clients";
import { remediateIncident } from "../core/remediate";
import { contextLogger, deadline, WEBHOOK_DEADLINE_MS, type Deadline, type Deps } from "../deps";
import { DeadlineError } from "../errors";
import type { Config } from "../config";
import { errorResponse, readIncidentRequest, summaryResponse } from "../http";

/**
 * POST /api/remediateIncident with the Sentinel incident trigger body (what the playbook forwards).
 * The body is only a pointer: the incident and its entities are re-read from Sentinel.
 * With `checkCaller` (Entra ID mode), only a valid token of the allowed identity gets in, checked
 * before the body is read.
 */
export interface HandlerOptions {
  /** Entra ID mode: the caller's token check. */
  checkCaller?: CallerCheck;
  /** The invocation's deadline (default WEBHOOK_DEADLINE_MS); tests start one they can end. */
  startDeadline?: () => Deadline;
}

export function createRemediateHandler(getDeps: () => Deps, options: HandlerOptions = {}): HttpHandler {
  const { checkCaller } = options;
  const startDeadline = options.startDeadline ?? (() => deadline(WEBHOOK_DEADLINE_MS, () => new DeadlineError(WEBHOOK_DEADLINE_MS / 1000)));
  return async (request, context) => {
    const log = contextLogger(context);
    const run = startDeadline();
    try {
      if (checkCaller) await checkCaller(request.headers.get("authorization"));
      const pointer = await readIncidentRequest(request);
      log.info(`webhook for incident ${pointer.incidentId}`);
      return summaryResponse(await remediateIncident(pointer, getDeps(), log, run.signal, { invocationId: context.invocationId }));
    } catch (error) {
      return errorResponse(run.signal.aborted ? run.signal.reason : error, log, context.invocationId);
    } finally {
      run.clear();
    }
  };
}

/**
 * Registers the webhook (src/index.ts calls this at start-up). In Entra ID mode the code checks the
 * caller's token itself (App Service authentication stays in front as the first gate) and no
 * function key is asked for; otherwise the key is.
 */
export function registerRemediate(config: Pick<Config, "webhook">): void {
  app.http("remediateIncident", {
    methods: ["POST"],
    authLevel: config.webhook ? "anonymous" : "function",
    handler: createRemediateHandler(depsFromEnvironment, config.webhook ? { checkCaller: createCallerCheck(config.webhook) } : {}),
  });
}
