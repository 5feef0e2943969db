import { setTimeout as sleep } from "node:timers/promises";
import type { TokenCredential } from "@azure/identity";
import { SecurityInsights, type Incident } from "@azure/arm-securityinsight";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import { ruleGuid, type WorkspaceRef } from "./config";
import { RequestError, statusOf, upstreamError } from "./errors";

/** Stable Sentinel REST api-version (the SDK pins a preview one by default). */
export const SENTINEL_API_VERSION = "2024-09-01";

export interface IncidentState {
  id: string;
  name: string;
  etag?: string;
  title: string;
  severity: string;
  status: string;
  incidentNumber?: number;
  incidentUrl?: string;
  /** Analytics rule GUIDs (lower case), from relatedAnalyticRuleIds. */
  ruleIds: string[];
}

/** An incident entity as Sentinel returns it: its kind and its (flattened) properties. */
export interface IncidentEntity {
  kind: string;
  properties: Record<string, unknown>;
}

export interface CloseRequest {
  classificationComment: string;
}

export type CloseResult = "closed" | "already-closed";

/** What the core needs from Sentinel. One incident workspace, fixed by configuration. */
export interface SentinelGateway {
  /** Returns undefined when the incident does not exist. */
  getIncident(incidentId: string): Promise<IncidentState | undefined>;
  listEntities(incidentId: string): Promise<IncidentEntity[]>;
  /** Open incidents created before `createdBefore`, oldest first, at most `max`. */
  listOpenIncidents(createdBefore: Date, max: number): Promise<IncidentState[]>;
  /** Ids (lower case) of the incident's comments. */
  listCommentIds(incidentId: string): Promise<string[]>;
  /** Creates or replaces the comment with this id (an idempotent upsert). */
  upsertComment(incidentId: string, commentId: string, message: string): Promise<void>;
  /**
   * Closes as BenignPositive / SuspiciousButExpected. Starts from `known` (a state read
   * earlier) when given, and re-reads the incident on etag conflicts.
   */
  closeIncident(incidentId: string, request: CloseRequest, known?: IncidentState): Promise<CloseResult>;
}

const CLOSE_ATTEMPTS = 4;

export const ARM_REQUEST_TIMEOUT_MS = 20_000;

export function createSentinelGateway(
  credential: TokenCredential,
  workspace: WorkspaceRef,
  armEndpoint: string,
  options: { requestTimeoutMs?: number } = {},
): SentinelGateway {
  const timeout = options.requestTimeoutMs ?? ARM_REQUEST_TIMEOUT_MS;
  const client = new SecurityInsights(credential, workspace.subscriptionId, {
    endpoint: armEndpoint,
    $host: armEndpoint,
    apiVersion: SENTINEL_API_VERSION,
    credentialScopes: [`${armEndpoint}/.default`],
    // Each attempt gets its own timeout, and an attempt that times out is tried again twice:
    // the SDK's own retry policy covers resets, 429 (honouring Retry-After) and 5xx, but
    // treats a timeout as the caller giving up.
    additionalPolicies: [{ position: "perRetry", policy: attemptTimeoutPolicy(timeout) }],
  });
  const { resourceGroup: rg, name: ws } = workspace;
  // The incident as Sentinel returned it, for each state handed out: the close writes it back
  // whole, so that what the update does not change (owner, labels, description, …) stays.
  const asRead = new WeakMap<IncidentState, Incident>();
  const read = (incident: Incident): IncidentState => {
    const state = toIncidentState(incident);
    asRead.set(state, incident);
    return state;
  };

  /** Incident-scoped calls: a 404 means the incident was deleted meanwhile, which retrying cannot fix. */
  const call = async <T>(incidentId: string, what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (statusOf(error) === 404) throw deleted(incidentId);
      throw upstreamError("sentinel", what, error);
    }
  };

  const getIncident = async (incidentId: string): Promise<IncidentState | undefined> => {
    try {
      return read(await client.incidents.get(rg, ws, incidentId));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw upstreamError("sentinel", `read incident ${incidentId}`, error);
    }
  };

  return {
    getIncident,

    async listOpenIncidents(createdBefore, max) {
      const out: IncidentState[] = [];
      try {
        const pages = client.incidents.list(rg, ws, {
          filter: `properties/status ne 'Closed' and properties/createdTimeUtc le ${createdBefore.toISOString()}`,
          orderby: "properties/createdTimeUtc asc",
          top: max,
        });
        for await (const incident of pages) {
          out.push(read(incident));
          if (out.length >= max) break;
        }
      } catch (error) {
        throw upstreamError("sentinel", "list open incidents", error);
      }
      return out;
    },

    listCommentIds: (incidentId) =>
      call(incidentId, `list comments of incident ${incidentId}`, async () => {
        const ids: string[] = [];
        for await (const comment of client.incidentComments.list(rg, ws, incidentId)) ids.push((comment.name ?? "").toLowerCase());
        return ids;
      }),

    listEntities: (incidentId) =>
      call(incidentId, `list entities of incident ${incidentId}`, async () => {
        const response = await client.incidents.listEntities(rg, ws, incidentId);
        return (response.entities ?? []).map((entity) => {
          const { kind, ...properties } = entity as unknown as Record<string, unknown>;
          return { kind: String(kind), properties };
        });
      }),

    upsertComment: (incidentId, commentId, message) =>
      call(incidentId, `comment on incident ${incidentId}`, async () => {
        await client.incidentComments.createOrUpdate(rg, ws, incidentId, commentId, { message });
      }),

    async closeIncident(incidentId, request, known) {
      for (let attempt = 1; ; attempt++) {
        const current = attempt === 1 && known ? known : await getIncident(incidentId);
        if (!current) throw deleted(incidentId);
        if (current.status === "Closed") return "already-closed";
        try {
          // The update is a PUT: send the incident back as read (the SDK leaves out read-only
          // fields), so that title, severity, owner, labels and description are kept; the etag
          // guards against overwriting a change made since it was read.
          await client.incidents.createOrUpdate(rg, ws, incidentId, {
            ...(asRead.get(current) ?? { title: current.title, severity: current.severity }),
            etag: current.etag,
            status: "Closed",
            classification: "BenignPositive",
            classificationReason: "SuspiciousButExpected",
            classificationComment: request.classificationComment,
          });
          return "closed";
        } catch (error) {
          const status = statusOf(error);
          if (status === 404) throw deleted(incidentId);
          const conflict = status === 409 || status === 412;
          if (!conflict || attempt >= CLOSE_ATTEMPTS) throw upstreamError("sentinel", `close incident ${incidentId}`, error);
        }
      }
    },
  };
}

function attemptTimeoutPolicy(timeoutMs: number, retries = 2): PipelinePolicy {
  return {
    name: "attemptTimeout",
    async sendRequest(request, next) {
      for (let attempt = 0; ; attempt++) {
        request.timeout = timeoutMs;
        try {
          return await next(request);
        } catch (error) {
          const timedOut = error instanceof Error && error.name === "AbortError" && !request.abortSignal?.aborted;
          if (!timedOut) throw error;
          if (attempt >= retries) throw new Error(`no answer within ${timeoutMs} ms`, { cause: error });
          await sleep(200 * 2 ** attempt);
        }
      }
    },
  };
}

const deleted = (incidentId: string) =>
  new RequestError("IncidentNotFound", `Incident ${incidentId} was deleted while it was being remediated; nothing more to do`);

function toIncidentState(incident: Incident): IncidentState {
  return {
    id: incident.id ?? "",
    name: incident.name ?? "",
    etag: incident.etag,
    title: incident.title ?? "",
    severity: incident.severity ?? "Medium",
    status: incident.status ?? "New",
    incidentNumber: incident.incidentNumber,
    incidentUrl: incident.incidentUrl,
    ruleIds: (incident.relatedAnalyticRuleIds ?? []).map(ruleGuid),
  };
}
