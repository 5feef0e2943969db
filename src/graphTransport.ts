import type { TokenCredential } from "@azure/identity";
import { AuthenticationHandler, Client, ResponseType, type Context, type Middleware } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials";
import type * as z from "zod/mini";
import { LimitError, messageOf, upstreamError, UpstreamError } from "./errors";
import { createPolicy, NoAnswer } from "./policy";
import { createThrottle } from "./throttle";

/**
 * Where the Graph rate starts (requests per second): Microsoft Graph's identity and access limit
 * for one app in the smallest tenants, 3,500 resource units per 10 seconds, at 1 unit a request
 * ("Microsoft Graph service-specific throttling limits"). The throttle learns the real budget from
 * there.
 */
export const GRAPH_INITIAL_RATE = 350;

/**
 * How the app talks to Microsoft Graph, apart from what it asks (src/graph.ts): the Graph client
 * with the app's credential, the one call policy (timeouts, retries, throttling, the in-flight
 * bound), strict answers, paging within GRAPH_MAX_PAGES, and errors that name what a refused call
 * needs or why no answer came.
 */

export interface TransportOptions {
  /** Each attempt of each request is abandoned after this long, body included. */
  requestTimeoutMs: number;
  /** Tries per request (first one included). */
  attempts: number;
  /** First wait before a retry (default: the policy's). */
  retryDelayMs?: number;
  /** Graph requests in flight at once for this instance, across all incidents. */
  maxInFlight: number;
  /** Pages read per listing (GRAPH_MAX_PAGES). */
  maxPages: number;
  /** The HTTP transport (default: the global fetch); the world simulation serves Graph in process. */
  fetch?: typeof fetch;
}

/** One request: what it is for (named in errors), what it needs when refused, and the answer expected. */
export interface GraphRequest<T> {
  what: string;
  /** The permission or role the call needs, named when Graph answers 401/403. */
  needed: string;
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  /** The documented JSON answer; without it the answer has no body. */
  schema?: z.ZodMiniType<T>;
  /** The statuses that are answers (default: 200 only). */
  accept?: (status: number) => boolean;
}

/** A listing: its first page, the page shape, and what to say when it has more pages than allowed. */
export interface GraphListing<T> {
  what: string;
  needed: string;
  first: string;
  page: z.ZodMiniType<{ value: T[]; "@odata.nextLink"?: string | undefined }>;
  tooManyPages: string;
  /**
   * Called with everything read so far after each page: "done" ends the listing there (what was
   * looked for is found); a bound on items can throw to stop it.
   */
  onPage?: (items: T[]) => void | "done";
}

export interface GraphTransport {
  origin: string;
  call: <T>(signal: AbortSignal, request: GraphRequest<T>) => Promise<{ status: number; body: T | undefined }>;
  listAll: <T>(signal: AbortSignal, listing: GraphListing<T>) => Promise<T[]>;
}

export function createGraphTransport(credential: TokenCredential, graphEndpoint: string, options: TransportOptions): GraphTransport {
  const origin = new URL(graphEndpoint).origin;
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [`${origin}/.default`] });
  // Retries, timeouts and throttling are the shared policy's (src/policy.ts), not the client's.
  const client = Client.initWithMiddleware({
    middleware: [new AuthenticationHandler(authProvider), new FetchHandler(options.fetch ?? fetch)],
    baseUrl: origin,
    defaultVersion: "v1.0",
    // The Graph client only sends the token to graph.microsoft.com and to hosts listed here.
    customHosts: new Set([new URL(origin).hostname]),
  });
  const policy = createPolicy({
    timeoutMs: options.requestTimeoutMs,
    attempts: options.attempts,
    ...(options.retryDelayMs !== undefined ? { baseDelayMs: options.retryDelayMs } : {}),
    maxInFlight: options.maxInFlight,
    // A wave of reads (an incident's access packages) leaves together when the instance is under its rate.
    throttle: createThrottle({ initialPerSecond: GRAPH_INITIAL_RATE, burst: options.maxInFlight }),
  });

  /**
   * One request under the policy. The answer is read whole inside the attempt (so the timeout
   * covers the body) and must be JSON matching `schema`, or have no body when there is none.
   */
  async function call<T>(signal: AbortSignal, request: GraphRequest<T>): Promise<{ status: number; body: T | undefined }> {
    const { what, schema } = request;
    const accept = request.accept ?? ((s: number) => s === 200);
    try {
      return await policy.run(signal, async (attemptSignal) => {
        const api = client.api(request.path).option("signal", attemptSignal).responseType(ResponseType.RAW);
        let response: Response;
        let text: string;
        try {
          response = (await (request.method === "GET" ? api.get() : api.post(request.body))) as Response;
          text = await response.text();
        } catch (error) {
          if (attemptSignal.aborted) throw attemptSignal.reason as Error;
          // The client wraps a failed connection in a GraphError without a status: no answer at all.
          throw new NoAnswer(`connection failed (${messageOf(error)})`, { cause: error });
        }
        if (!accept(response.status)) throw new GraphHttpError(response.status, response.headers, errorText(text) || response.statusText);
        if (!schema) return { status: response.status, body: undefined };
        return { status: response.status, body: parseAnswer(what, response, text, schema) };
      });
    } catch (error) {
      throw upstreamError("graph", what, error, request.needed, { setting: "GRAPH_ENDPOINT", url: origin });
    }
  }

  /** An @odata.nextLink is absolute; the client wants a path under the version segment. */
  const nextPath = (link: string): string => {
    const url = URL.canParse(link) ? new URL(link) : undefined;
    if (url?.origin !== origin) {
      throw new UpstreamError("graph", 200, `Graph returned a next page link on another host or not a URL; not following it`);
    }
    return url.pathname.replace(/^\/v1\.0/, "") + url.search;
  };

  /**
   * Every item of a Graph listing, page by page, within GRAPH_MAX_PAGES; a next link that repeats
   * an earlier page is an error (it would loop forever).
   */
  async function listAll<T>(signal: AbortSignal, listing: GraphListing<T>): Promise<T[]> {
    const out: T[] = [];
    const seen = new Set<string>();
    let path: string | undefined = listing.first;
    for (let pages = 0; path !== undefined; pages++) {
      if (pages >= options.maxPages) throw new LimitError(`${listing.tooManyPages} (GRAPH_MAX_PAGES ${options.maxPages})`);
      seen.add(path);
      const { body }: { body: { value: T[]; "@odata.nextLink"?: string | undefined } | undefined } = await call(signal, {
        what: listing.what,
        needed: listing.needed,
        method: "GET",
        path,
        schema: listing.page,
      });
      out.push(...(body?.value ?? []));
      if (listing.onPage?.(out) === "done") return out;
      const link: string | undefined = body?.["@odata.nextLink"];
      path = link ? nextPath(link) : undefined;
      if (path !== undefined && seen.has(path)) {
        throw new UpstreamError("graph", 200, `Graph could not ${listing.what}: a next page link repeats an earlier page`);
      }
    }
    return out;
  }

  return { origin, call, listAll };
}

/** The documented JSON answer, or an error saying how the answer differs. */
function parseAnswer<T>(what: string, response: Response, text: string, schema: z.ZodMiniType<T>): T {
  const type = response.headers.get("content-type") ?? "";
  if (!/^application\/json\b/i.test(type)) {
    throw new UpstreamError(
      "graph",
      response.status,
      `Graph could not ${what}: answered ${response.status} with ${type || "no content type"}, not JSON`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamError("graph", response.status, `Graph could not ${what}: answered ${response.status} with malformed JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join(".") || "body";
    throw new UpstreamError("graph", response.status, `Graph could not ${what}: the answer is not the documented shape (${where})`);
  }
  return parsed.data;
}

/** A failed Graph answer, with what the policy needs to decide on a retry. */
class GraphHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly headers: Headers,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The client's last middleware, as its own HTTPMessageHandler (one fetch), except that a failed
 * connection keeps its cause: the client turns errors into GraphErrors that drop `cause`, so the
 * innermost code (ECONNREFUSED, SELF_SIGNED_CERT_IN_CHAIN, …) goes into the message.
 */
class FetchHandler implements Middleware {
  constructor(private readonly send: typeof fetch) {}

  async execute(context: Context): Promise<void> {
    try {
      context.response = await this.send(context.request as string | URL | Request, context.options);
    } catch (error) {
      if (error instanceof Error && error.name === "AbortError") throw error;
      throw new Error(`fetch failed: ${deepestCause(error)}`, { cause: error });
    }
  }
}

/** The innermost code (ECONNREFUSED, SELF_SIGNED_CERT_IN_CHAIN, …) or message of a failed connection. */
function deepestCause(error: unknown): string {
  let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined;
  let found = messageOf(error);
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) {
    if (typeof e.code === "string" && e.code) found = e.code;
    else if (typeof e.message === "string" && e.message && !/^fetch failed$/.test(e.message)) found = e.message;
  }
  return found;
}

/** The error code and message of a Graph error body, if it has one. */
function errorText(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    return [body.error?.code, body.error?.message].filter(Boolean).join(": ");
  } catch {
    return "";
  }
}
