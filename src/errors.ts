/**
 * The few error types the app raises. Each carries the HTTP status it maps to and a stable
 * `code`; `errorResponse` in src/http.ts is the one place that turns them into responses.
 *
 * - RequestError: the caller sent something we will not act on (4xx). Nothing was changed.
 * - ConfigError: the app's settings are missing or invalid (500). Fix the app settings.
 * - UpstreamError: Graph or Sentinel failed, refused or answered something undocumented (502/503).
 * - DeadlineError: the invocation's deadline passed; the work was stopped (503). Safe to retry.
 * - LimitError: a bound was reached (pages, assignments, reprocess calls); nothing was changed.
 */

export abstract class AppError extends Error {
  abstract readonly status: number;
  constructor(
    readonly code: string,
    message: string,
  ) {
    // Every message of the app's errors leaves it somewhere (answer, comment, log, CLI): redacted here, once.
    super(redact(message));
  }
}

/**
 * Credentials that can ride along in a dependency's error text (a table URL with its SAS, a
 * connection string, a bearer token, a client secret, a function key in a URL) replaced by
 * "[redacted]": a Sentinel reader who sees a comment must not be able to use the state table.
 */
const SECRETS: [RegExp, string][] = [
  // SAS signatures (sig=…) and function keys (code=…) in URLs and query strings.
  [/([?&;](?:sig|code)=)[^&\s"';,)]+/gi, "$1[redacted]"],
  // Connection string parts.
  [/((?:AccountKey|SharedAccessSignature|SharedAccessKey)=)[^;\s"']+/gi, "$1[redacted]"],
  // Bearer tokens and bare JWTs.
  [/(Bearer\s+)[A-Za-z0-9\-._~+/]{16,}=*/gi, "$1[redacted]"],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, "[redacted]"],
  // Secrets named in form bodies or JSON.
  [/((?:client_secret|access_token|refresh_token|password)["']?\s*[=:]\s*["']?)[^&\s"',}]+/gi, "$1[redacted]"],
];

export function redact(text: string): string {
  return SECRETS.reduce((out, [pattern, replacement]) => out.replace(pattern, replacement), text);
}

export type RequestErrorCode =
  | "Unauthenticated"
  | "CallerNotAllowed"
  | "UnsupportedMediaType"
  | "PayloadTooLarge"
  | "InvalidJson"
  | "UnreadableFile"
  | "InvalidIncident"
  | "WorkspaceMismatch"
  | "IncidentNotFound";

const requestStatus: Record<RequestErrorCode, number> = {
  Unauthenticated: 401,
  CallerNotAllowed: 403,
  UnsupportedMediaType: 415,
  PayloadTooLarge: 413,
  InvalidJson: 400,
  UnreadableFile: 400,
  InvalidIncident: 400,
  WorkspaceMismatch: 403,
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

/** The invocation ran out of time; every call in flight was aborted and nothing more was changed. */
export class DeadlineError extends AppError {
  override readonly name = "DeadlineError";
  readonly status = 503;
  constructor(seconds: number) {
    super("DeadlineExceeded", `Remediation was stopped after ${seconds} s because Graph or Sentinel answered slowly; retry later`);
  }
}

/** A configured bound was reached; the incident is left open with this message. */
export class LimitError extends AppError {
  override readonly name = "LimitError";
  readonly status = 422;
  constructor(message: string) {
    super("LimitReached", message);
  }
}

export type Upstream = "graph" | "sentinel" | "state" | "login";

const LABEL: Record<Upstream, string> = { graph: "Graph", sentinel: "Sentinel", state: "The state table", login: "Entra ID" };

export class UpstreamError extends AppError {
  override readonly name = "UpstreamError";
  readonly status: number;
  constructor(
    readonly service: Upstream,
    /** HTTP status the service answered, or undefined when no answer came (network error, timeout). */
    readonly upstreamStatus: number | undefined,
    message: string,
  ) {
    super(upstreamCode(service, upstreamStatus), message);
    // 503 tells the caller to retry later (throttled, unavailable, no answer); every other upstream fault is 502.
    this.status = upstreamStatus === undefined || upstreamStatus === 429 || upstreamStatus >= 503 ? 503 : 502;
  }
}

function upstreamCode(service: Upstream, status: number | undefined): string {
  const prefix = { graph: "Graph", sentinel: "Sentinel", state: "State", login: "Login" }[service];
  // Every sign-in problem is one code, whatever Entra ID answered.
  if (service === "login") return "LoginFailure";
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

/** An error's message, redacted: whatever a dependency put in it may leave the app. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return redact(error.message);
  if (typeof error === "object" && error !== null && "message" in error) {
    return redact(String(error.message));
  }
  return redact(String(error));
}

/** Where a service is, and the setting that says so: named when it cannot be reached. */
export interface Endpoint {
  setting: string;
  url: string;
}

/**
 * Wraps a failure of a Graph, Sentinel or state-table call, saying what we tried and what to do:
 * on 401/403 the permission the app's identity needs; when no answer came, the cause and the fix
 * (an untrusted certificate, nothing listening, a wrong endpoint setting).
 */
export function upstreamError(service: Upstream, what: string, error: unknown, permission?: string, endpoint?: Endpoint): AppError {
  // Already ours (an UpstreamError from a stricter check, a deadline, a limit): passed on as it is.
  if (error instanceof AppError) return error;
  // The app's own sign-in failed, whichever call needed the token: that, not the call, is the news.
  const login = loginFailure(error);
  if (login) return login;
  const status = statusOf(error);
  const hint =
    (status === 401 || status === 403) && permission
      ? ` — the app's identity needs ${permission}`
      : status === undefined
        ? connectionHint(service, error, endpoint)
        : "";
  return new UpstreamError(service, status, `${LABEL[service]} could not ${what}: ${status ?? "no answer"} ${messageOf(error)}${hint}`);
}

/**
 * A sign-in failure of the app's credential (@azure/identity), anywhere along the error's cause
 * chain, as one line with the cause and the fix: no credential at all (the chain of six that
 * DefaultAzureCredential tries), or Entra ID refusing the one given (with its AADSTS code).
 */
export function loginFailure(error: unknown): UpstreamError | undefined {
  // A certificate not trusted or nothing answering is a connection problem, named with its fix by connectionHint.
  const connection = connectionCause(causeText(error)) !== undefined;
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; depth++) {
    const x = e as {
      name?: unknown;
      message?: unknown;
      statusCode?: unknown;
      errorResponse?: { error?: unknown; errorDescription?: unknown };
      cause?: unknown;
    };
    const message = typeof x.message === "string" ? x.message : "";
    const unavailable =
      x.name === "CredentialUnavailableError" ||
      x.name === "AggregateAuthenticationError" ||
      /^ChainedTokenCredential authentication failed/.test(message);
    if (unavailable && !connection) {
      return new UpstreamError(
        "login",
        undefined,
        "No Azure credential could sign in: run az login (on your machine), or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (an app registration); in Azure, AZURE_CLIENT_ID names the app's managed identity",
      );
    }
    // Entra ID answered (an AADSTS code or an OAuth error body); no answer is a connection problem, named elsewhere.
    const answered = typeof x.errorResponse?.error === "string" || /AADSTS\d+/.test(message);
    if ((x.name === "AuthenticationError" || x.name === "AuthenticationRequiredError") && answered) {
      const code = typeof x.errorResponse?.error === "string" ? x.errorResponse.error : (/^([a-z_]+): /.exec(message)?.[1] ?? "no token");
      const text = `${typeof x.errorResponse?.errorDescription === "string" ? x.errorResponse.errorDescription : ""} ${message}`;
      const aadsts = /AADSTS\d+: [^.\n]*\.?/.exec(text)?.[0];
      const status = typeof x.statusCode === "number" && x.statusCode > 0 ? x.statusCode : 400;
      return new UpstreamError(
        "login",
        status,
        `Entra ID refused the app's sign-in (${code}${aadsts ? `, ${printable(aadsts, 160)}` : ""}): check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or the managed identity's AZURE_CLIENT_ID)`,
      );
    }
    e = x.cause;
  }
  return undefined;
}

const TLS_TRUST =
  /SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|unable to get local issuer certificate|self[- ]signed certificate|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID/i;
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/;
const LOOPBACK = /127\.0\.0\.1|localhost|\[::1\]|UseDevelopmentStorage/i;

/** Every message and code along an error's cause chain, as one text to look for known causes in. */
function causeText(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e && depth < 5; depth++) {
    const x = e as { message?: unknown; code?: unknown; errorCode?: unknown; cause?: unknown };
    for (const v of [x.message, x.code, x.errorCode]) if (typeof v === "string") parts.push(v);
    e = x.cause;
  }
  return parts.join(" ");
}

/** The fix for a call that got no answer, when the cause is one a person can fix. */
/** Why no answer came, when the cause is one a person can fix: a certificate not trusted, or nothing listening. */
function connectionCause(text: string): "tls" | "authority" | "unreachable" | undefined {
  if (/endpoints_resolution_error/.test(text)) return "authority";
  if (TLS_TRUST.test(text)) return "tls";
  return UNREACHABLE.test(text) ? "unreachable" : undefined;
}

function connectionHint(service: Upstream, error: unknown, endpoint: Endpoint | undefined): string {
  const text = causeText(error);
  const cause = connectionCause(text);
  const where = endpoint ? `${endpoint.setting} (${endpoint.url})` : "the endpoint";
  if (cause === "tls" || cause === "authority") {
    const of = cause === "authority" ? "Entra ID's (AZURE_AUTHORITY_HOST)" : `${where}'s`;
    return (
      ` — the TLS certificate of ${of} endpoint is not trusted, or its OpenID configuration could not be read.` +
      " With the local fake tenant, start Node with NODE_EXTRA_CA_CERTS=.fake-tenant/cert.pem (Node reads it only at start)"
    );
  }
  if (cause !== "unreachable") return "";
  if (service === "state" && (LOOPBACK.test(text) || LOOPBACK.test(endpoint?.url ?? ""))) {
    return " — nothing answers on the local table endpoint: start Azurite (npx azurite --silent --location .azurite), or point STATE_TABLE_CONNECTION / STATE_TABLE_ENDPOINT at the app's storage account";
  }
  return ` — nothing answers at ${where}: is the setting right, and the service reachable from here?`;
}

/** A connection refused on loopback: nothing listens there, and trying again will not change that. */
export function refusedLocally(error: unknown): boolean {
  const text = causeText(error);
  return /ECONNREFUSED/.test(text) && LOOPBACK.test(text);
}

/** Caller-supplied text made safe for one log line or message: no control characters, bounded length. */
export function printable(text: string, max = 120): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
