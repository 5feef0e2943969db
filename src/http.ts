import type { HttpRequest, HttpResponseInit } from "@azure/functions";
import type { Outcome } from "./core/domain";
import type { RemediationSummary } from "./core/report";
import type { Logger } from "./deps";
import { AppError, messageOf, printable, RequestError } from "./errors";
import { parseIncidentTriggerText, type IncidentPointer } from "./incident";

export const MAX_BODY_BYTES = 1024 * 1024;
/** Retry-After of a 503 answer: long enough for a throttled dependency or a lease to clear. */
export const RETRY_AFTER_SECONDS = 30;

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * Reads the webhook request as a Sentinel incident pointer. Every check happens before any
 * call to Graph or Sentinel: 415 wrong content type, 413 over 1 MB (stopped while it streams,
 * with or without Content-Length), 400 not JSON or not an incident.
 */
export async function readIncidentRequest(request: HttpRequest): Promise<IncidentPointer> {
  const type = request.headers.get("content-type") ?? "";
  if (!JSON_TYPE.test(type)) {
    throw new RequestError(
      "UnsupportedMediaType",
      `Content-Type must be application/json, got ${type ? `"${printable(type, 100)}"` : "none"}`,
    );
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const bytes = await readCapped(request.body, MAX_BODY_BYTES);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new RequestError("InvalidJson", "Request body is not valid UTF-8 JSON");
  }
  return parseIncidentTriggerText(text);
}

/** Reads a body stream, stopping (and cancelling the stream) as soon as it passes `max` bytes. */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

const tooLarge = () =>
  new RequestError("PayloadTooLarge", `Request body exceeds ${MAX_BODY_BYTES} bytes; a Sentinel incident trigger body is far smaller`);

const OUTCOME_STATUS: Record<Outcome, number> = {
  remediated: 200,
  "already-closed": 200,
  "dry-run": 200,
  // Decisions: the incident was handled and left open for an analyst; retrying changes nothing.
  held: 200,
  "nothing-to-reprocess": 200,
  "no-account": 200,
  // Reprocess requested; Entra ID has not delivered yet. The sweeper checks again.
  "awaiting-delivery": 202,
  // The hourly cap was reached; the sweeper resumes the incident when the window allows.
  capped: 202,
  "delivery-not-seen": 200,
  "partly-restored": 200,
  // Someone else closed it meanwhile: handled, nothing to retry.
  "closed-by-other": 200,
  // Another run holds the incident's lease: nothing was done; that run reports.
  "in-progress": 202,
  // Some reprocess calls failed, or the close did: 5xx so the playbook's retry policy calls again.
  failed: 502,
};

export function summaryResponse(summary: RemediationSummary): HttpResponseInit {
  return { status: OUTCOME_STATUS[summary.outcome], jsonBody: summary };
}

/** The one place that maps errors to responses. Unknown errors are logged and answered 500 without detail. */
export function errorResponse(error: unknown, log: Logger, invocationId: string): HttpResponseInit {
  if (error instanceof AppError) {
    const line = `${error.name} ${error.code}: ${printable(error.message, 1000)}`;
    if (error.status >= 500) log.error(line);
    else log.warn(line);
    // 503: ours or a dependency's, temporary (deadline, throttled, unavailable): the playbook retries.
    const retry = error.status === 503 ? { headers: { "retry-after": String(RETRY_AFTER_SECONDS) } } : {};
    return { status: error.status, jsonBody: { error: { code: error.code, message: error.message } }, ...retry };
  }
  log.error(`Unexpected error: ${printable(messageOf(error), 1000)}`);
  return {
    status: 500,
    jsonBody: { error: { code: "InternalError", message: `Unexpected error; see the function log for invocation ${invocationId}` } },
  };
}
