import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { Outcome, RemediationSummary } from "./core/report";
import type { Logger } from "./core/remediate";
import { AppError, messageOf, RequestError } from "./errors";
import { parseIncidentTriggerText, type IncidentPointer } from "./incident";

export const MAX_BODY_BYTES = 1024 * 1024;

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * Reads the webhook request as a Sentinel incident pointer. Every check happens before any
 * call to Graph or Sentinel: 415 wrong content type, 413 over 1 MB, 400 not JSON or not an incident.
 */
export async function readIncidentRequest(request: HttpRequest): Promise<IncidentPointer> {
  const type = request.headers.get("content-type") ?? "";
  if (!JSON_TYPE.test(type)) {
    throw new RequestError("UnsupportedMediaType", `Content-Type must be application/json, got ${type ? `"${type.slice(0, 100)}"` : "none"}`);
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength > MAX_BODY_BYTES) throw tooLarge();
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new RequestError("InvalidJson", "Request body is not valid UTF-8 JSON");
  }
  return parseIncidentTriggerText(text);
}

const tooLarge = () =>
  new RequestError("PayloadTooLarge", `Request body exceeds ${MAX_BODY_BYTES} bytes; a Sentinel incident trigger body is far smaller`);

const OUTCOME_STATUS: Record<Outcome, number> = {
  remediated: 200,
  "already-closed": 200,
  "dry-run": 200,
  "nothing-to-reprocess": 200,
  // The webhook was fine but the incident cannot be acted on; retrying will not help.
  "no-account": 422,
  // Some reprocess calls failed: 5xx so the playbook's retry policy calls again.
  failed: 502,
};

export function summaryResponse(summary: RemediationSummary): HttpResponseInit {
  return { status: OUTCOME_STATUS[summary.outcome], jsonBody: summary };
}

/** The one place that maps errors to responses. Unknown errors are logged and answered 500 without detail. */
export function errorResponse(error: unknown, log: Logger, invocationId: string): HttpResponseInit {
  if (error instanceof AppError) {
    const line = `${error.name} ${error.code}: ${error.message}`;
    if (error.status >= 500) log.error(line);
    else log.warn(line);
    return { status: error.status, jsonBody: { error: { code: error.code, message: error.message } } };
  }
  log.error(`Unexpected error: ${messageOf(error)}`);
  return {
    status: 500,
    jsonBody: { error: { code: "InternalError", message: `Unexpected error; see the function log for invocation ${invocationId}` } },
  };
}
