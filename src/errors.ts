/**
 * The few error types the app raises. Each carries the HTTP status it maps to and a stable
 * `code`; `toErrorBody` in src/http.ts is the one place that turns them into responses.
 *
 * - RequestError: the caller sent something we will not act on (4xx). Nothing was changed.
 * - ConfigError: the app's settings are missing or invalid (500). Fix the app settings.
 * - UpstreamError: Graph or Sentinel failed or refused (502/503). Safe to retry.
 */

export abstract class AppError extends Error {
  abstract readonly status: number;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export type RequestErrorCode =
  | "UnsupportedMediaType"
  | "PayloadTooLarge"
  | "InvalidJson"
  | "InvalidIncident"
  | "WorkspaceMismatch"
  | "RuleNotAllowed"
  | "IncidentNotFound";

const requestStatus: Record<RequestErrorCode, number> = {
  UnsupportedMediaType: 415,
  PayloadTooLarge: 413,
  InvalidJson: 400,
  InvalidIncident: 400,
  WorkspaceMismatch: 403,
  RuleNotAllowed: 403,
  IncidentNotFound: 404,
};

export class RequestError extends AppError {
  override readonly name = "RequestError";
  readonly status: number;
  constructor(code: RequestErrorCode, message: string) {
    super(code, message);
    this.status = requestStatus[code];
  }
}

export class ConfigError extends AppError {
  override readonly name = "ConfigError";
  readonly status = 500;
  constructor(readonly problems: string[]) {
    super("InvalidConfiguration", `Invalid app settings: ${problems.join("; ")}`);
  }
}

/** The invocation ran out of time (slow services); nothing is lost, the caller should retry. */
export class DeadlineError extends AppError {
  override readonly name = "DeadlineError";
  readonly status = 503;
  constructor(seconds: number) {
    super("DeadlineExceeded", `Remediation did not finish within ${seconds} s because Graph or Sentinel answered slowly; retry later`);
  }
}

export type Upstream = "graph" | "sentinel";

export class UpstreamError extends AppError {
  override readonly name = "UpstreamError";
  readonly status: number;
  constructor(
    readonly service: Upstream,
    /** HTTP status the service answered, or undefined when no answer came (network error). */
    readonly upstreamStatus: number | undefined,
    message: string,
  ) {
    super(upstreamCode(service, upstreamStatus), message);
    // 503 tells the caller to retry later (throttled, unavailable, no answer); every other upstream fault is 502.
    this.status = upstreamStatus === undefined || upstreamStatus === 429 || upstreamStatus === 503 ? 503 : 502;
  }
}

function upstreamCode(service: Upstream, status: number | undefined): string {
  const prefix = service === "graph" ? "Graph" : "Sentinel";
  if (status === 401 || status === 403) return `${prefix}AccessDenied`;
  if (status === 429) return `${prefix}Throttled`;
  return `${prefix}Failure`;
}

/** Reads the HTTP status of an error thrown by the Graph client or the Azure SDK, if it has one. */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { statusCode?: unknown; status?: unknown };
  if (typeof e.statusCode === "number" && e.statusCode > 0) return e.statusCode;
  if (typeof e.status === "number" && e.status > 0) return e.status;
  return undefined;
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "message" in error) {
    return String(error.message);
  }
  return String(error);
}

const ACCESS_HINT: Record<Upstream, string> = {
  graph:
    "the app's identity needs the Microsoft Graph application permission EntitlementManagement.ReadWrite.All " +
    "(or the entitlement management role Access package assignment manager)",
  sentinel: "the app's identity needs the Microsoft Sentinel Responder role on the workspace",
};

/** Wraps a failure of a Graph or Sentinel call, saying what we tried and, on 401/403, what permission is missing. */
export function upstreamError(service: Upstream, what: string, error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const status = statusOf(error);
  const hint = status === 401 || status === 403 ? ` — ${ACCESS_HINT[service]}` : "";
  const label = service === "graph" ? "Graph" : "Sentinel";
  return new UpstreamError(service, status, `${label} could not ${what}: ${status ?? "no response"} ${messageOf(error)}${hint}`);
}
