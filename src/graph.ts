import { setTimeout as sleep } from "node:timers/promises";
import type { TokenCredential } from "@azure/identity";
import {
  AuthenticationHandler,
  Client,
  HTTPMessageHandler,
  ResponseType,
  RetryHandler,
  RetryHandlerOptions,
  TelemetryHandler,
  type Context,
  type Middleware,
} from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials";
import { createLimiter } from "./core/concurrency";
import { upstreamError, UpstreamError } from "./errors";

const EM = "/identityGovernance/entitlementManagement";

/** delivering | partiallyDelivered | delivered | expired | deliveryFailed | unknownFutureValue */
export type AssignmentState = string;

export interface Assignment {
  id: string;
  state: AssignmentState;
  /** More detailed status text from Graph (e.g. "Delivered", "PartiallyDelivered"). */
  status?: string;
  accessPackageId: string;
  accessPackageName?: string;
}

export type ReprocessResult = "accepted" | "notFound";

/** What the core needs from Microsoft Graph entitlement management. */
export interface GraphGateway {
  /** Every access package assignment targeting the user (all pages, any state). */
  listAssignments(userId: string): Promise<Assignment[]>;
  /** Object ids (lower case) of the Entra groups the access package grants membership of. */
  groupsGrantedBy(accessPackageId: string): Promise<string[]>;
  /** Asks Entra to re-evaluate and re-apply the assignment (202 accepted; 404 → "notFound"). */
  reprocess(assignmentId: string): Promise<ReprocessResult>;
}

export interface GraphGatewayOptions {
  /** How long an access package → groups answer is reused. Packages rarely change. */
  packageCacheTtlMs?: number;
  /** Each attempt of each request is abandoned after this long. */
  requestTimeoutMs?: number;
  /** Graph requests in flight at once for this instance, across all incidents. */
  maxInFlight?: number;
  now?: () => number;
}

export const GRAPH_REQUEST_TIMEOUT_MS = 20_000;
/**
 * Requests in flight per instance. A burst of incidents shares it, so a throttled tenant sees a
 * bounded queue honouring Retry-After instead of an ever-growing storm of retries.
 */
export const GRAPH_MAX_IN_FLIGHT = 20;

/**
 * Gives every attempt its own timeout and retries attempts that got no answer at all (timeout,
 * connection reset) twice with a short backoff. Status-code retries (429 with Retry-After,
 * 503, 504) stay with the client's RetryHandler, which runs before this.
 */
class TransientFailureHandler implements Middleware {
  private next: Middleware | undefined;
  constructor(private readonly timeoutMs: number, private readonly retries = 2) {}

  async execute(context: Context): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      // A timer of our own, cleared as soon as the answer arrives: AbortSignal.timeout would keep
      // each request's signal (and what listens to it) alive for the full timeout.
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, "TimeoutError")), this.timeoutMs);
      const attemptContext = { ...context, options: { ...context.options, signal: abort.signal } };
      try {
        await this.next?.execute(attemptContext);
        context.response = attemptContext.response;
        return;
      } catch (error) {
        if (attempt >= this.retries) throw noAnswer(error, this.timeoutMs);
        await sleep(200 * 2 ** attempt);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

/**
 * One Retry-After for the whole instance: when Graph throttles one request, every other request
 * of this instance waits out the same Retry-After instead of running into its own 429.
 */
class ThrottleGate implements Middleware {
  private next: Middleware | undefined;
  private pausedUntil = 0;

  async execute(context: Context): Promise<void> {
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) await sleep(wait);
    await this.next?.execute(context);
    if (context.response?.status === 429) {
      const seconds = Number(context.response.headers.get("retry-after"));
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + (Number.isFinite(seconds) && seconds >= 0 ? seconds : 1) * 1000);
    }
  }

  setNext(next: Middleware): void {
    this.next = next;
  }
}

function noAnswer(error: unknown, timeoutMs: number): Error {
  const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
  return new Error(timedOut ? `no answer within ${timeoutMs} ms` : `connection failed (${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)})`);
}

interface Page<T> {
  value?: T[];
  "@odata.nextLink"?: string;
}

interface RawAssignment {
  id?: string;
  state?: string;
  status?: string;
  accessPackageId?: string;
  accessPackage?: { id?: string; displayName?: string } | null;
}

interface RawAccessPackage {
  resourceRoleScopes?: { scope?: { originId?: string; originSystem?: string } | null }[];
}

export function createGraphGateway(
  credential: TokenCredential,
  graphEndpoint: string,
  options: GraphGatewayOptions = {},
): GraphGateway {
  const origin = new URL(graphEndpoint).origin;
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [`${origin}/.default`] });
  const client = Client.initWithMiddleware({
    middleware: [
      new AuthenticationHandler(authProvider),
      new RetryHandler(new RetryHandlerOptions()),
      new ThrottleGate(),
      new TransientFailureHandler(options.requestTimeoutMs ?? GRAPH_REQUEST_TIMEOUT_MS),
      new TelemetryHandler(),
      new HTTPMessageHandler(),
    ],
    baseUrl: origin,
    defaultVersion: "v1.0",
    // The Graph client only sends the token to graph.microsoft.com and to hosts listed here.
    customHosts: new Set([new URL(origin).hostname]),
  });
  const ttl = options.packageCacheTtlMs ?? 5 * 60_000;
  const slot = createLimiter(options.maxInFlight ?? GRAPH_MAX_IN_FLIGHT);
  const now = options.now ?? Date.now;
  const packageCache = new Map<string, { at: number; groups: Promise<string[]> }>();

  /** An @odata.nextLink is absolute; the client wants a path under the version segment. */
  const nextPath = (link: string): string => {
    const url = new URL(link);
    if (url.origin !== origin) {
      throw new UpstreamError("graph", undefined, `Graph returned a next page link on another host (${url.origin}); not following it`);
    }
    return url.pathname.replace(/^\/v1\.0/, "") + url.search;
  };

  const get = async <T>(what: string, path: string): Promise<T> => {
    try {
      return (await slot(() => client.api(path).get())) as T;
    } catch (error) {
      throw upstreamError("graph", what, error);
    }
  };

  return {
    async listAssignments(userId) {
      const what = `list access package assignments of user ${userId}`;
      const first =
        `${EM}/assignments?$filter=${encodeURIComponent(`target/objectId eq '${userId}'`)}` + `&$expand=accessPackage`;
      const out: Assignment[] = [];
      for (let path: string | undefined = first; path !== undefined; ) {
        const page: Page<RawAssignment> = await get(what, path);
        for (const raw of page.value ?? []) {
          const packageId = raw.accessPackage?.id ?? raw.accessPackageId;
          if (!raw.id || !packageId) continue;
          out.push({
            id: raw.id,
            state: raw.state ?? "unknownFutureValue",
            status: raw.status,
            accessPackageId: packageId.toLowerCase(),
            accessPackageName: raw.accessPackage?.displayName,
          });
        }
        const link = page["@odata.nextLink"];
        path = link ? nextPath(link) : undefined;
      }
      return out;
    },

    groupsGrantedBy(accessPackageId) {
      const cached = packageCache.get(accessPackageId);
      if (cached && now() - cached.at < ttl) return cached.groups;
      const groups = get<RawAccessPackage>(
        `read access package ${accessPackageId}`,
        `${EM}/accessPackages/${encodeURIComponent(accessPackageId)}?$expand=resourceRoleScopes($expand=role,scope)`,
      ).then((pkg) =>
        (pkg.resourceRoleScopes ?? [])
          .map((rrs) => rrs.scope)
          .filter((scope) => scope?.originSystem === "AadGroup" && typeof scope.originId === "string")
          .map((scope) => (scope?.originId ?? "").toLowerCase()),
      );
      packageCache.set(accessPackageId, { at: now(), groups });
      groups.catch(() => packageCache.delete(accessPackageId));
      return groups;
    },

    async reprocess(assignmentId) {
      const what = `reprocess assignment ${assignmentId}`;
      let response: Response;
      try {
        // RAW: the answer is 202 with an empty body, which the client cannot parse as JSON.
        response = (await slot(() =>
          client.api(`${EM}/assignments/${encodeURIComponent(assignmentId)}/reprocess`).responseType(ResponseType.RAW).post(undefined),
        )) as Response;
      } catch (error) {
        throw upstreamError("graph", what, error);
      }
      if (response.ok) return "accepted";
      if (response.status === 404) return "notFound";
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw upstreamError("graph", what, {
        statusCode: response.status,
        message: [body.error?.code, body.error?.message].filter(Boolean).join(": ") || response.statusText,
      });
    },
  };
}
