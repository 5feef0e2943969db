import { app, type HttpHandler, type InvocationContext } from "@azure/functions";
import { depsFromEnvironment } from "../clients";
import { remediateIncident, type Deps, type Logger } from "../core/remediate";
import { errorResponse, readIncidentRequest, summaryResponse } from "../http";

export function contextLogger(context: InvocationContext): Logger {
  return {
    info: (m) => context.info(m),
    warn: (m) => context.warn(m),
    error: (m) => context.error(m),
  };
}

/**
 * POST /api/remediateIncident with the Sentinel incident trigger body (what the playbook forwards).
 * The body is only a pointer: the incident and its entities are re-read from Sentinel.
 */
export function createRemediateHandler(getDeps: () => Deps): HttpHandler {
  return async (request, context) => {
    const log = contextLogger(context);
    try {
      const pointer = await readIncidentRequest(request);
      log.info(`webhook for incident ${pointer.incidentId}`);
      return summaryResponse(await remediateIncident(pointer, getDeps(), log));
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
