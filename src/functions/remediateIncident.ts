import { app, type HttpHandler, type InvocationContext } from "@azure/functions";
import { depsFromEnvironment } from "../clients";
import { withDeadline } from "../core/concurrency";
import { remediateIncident, type Deps, type Logger } from "../core/remediate";
import { DeadlineError } from "../errors";
import { errorResponse, readIncidentRequest, summaryResponse } from "../http";

export function contextLogger(context: InvocationContext): Logger {
  return {
    info: (m) => context.info(m),
    warn: (m) => context.warn(m),
    error: (m) => context.error(m),
  };
}

/**
 * The answer comes within this long, safely inside the ~120 s a Logic Apps HTTP action waits
 * for a synchronous response; later, the caller gets 503 and retries.
 */
export const WEBHOOK_DEADLINE_MS = 100_000;

/**
 * POST /api/remediateIncident with the Sentinel incident trigger body (what the playbook forwards).
 * The body is only a pointer: the incident and its entities are re-read from Sentinel.
 */
export function createRemediateHandler(getDeps: () => Deps, deadlineMs = WEBHOOK_DEADLINE_MS): HttpHandler {
  return async (request, context) => {
    const log = contextLogger(context);
    try {
      const pointer = await readIncidentRequest(request);
      log.info(`webhook for incident ${pointer.incidentId}`);
      const work = remediateIncident(pointer, getDeps(), log);
      return summaryResponse(await withDeadline(work, deadlineMs, () => new DeadlineError(Math.round(deadlineMs / 1000))));
    } catch (error) {
      return errorResponse(error, log, context.invocationId);
    }
  };
}

app.http("remediateIncident", {
  methods: ["POST"],
  authLevel: "function",
  handler: createRemediateHandler(depsFromEnvironment),
});
