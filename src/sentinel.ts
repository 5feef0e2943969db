import type { TokenCredential } from "@azure/identity";
import { SecurityInsights, type Incident } from "@azure/arm-securityinsight";
import { ruleGuid, type WorkspaceRef } from "./config";
import { statusOf, upstreamError, UpstreamError } from "./errors";

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
  /** Creates or replaces the comment with this id (an idempotent upsert). */
  upsertComment(incidentId: string, commentId: string, message: string): Promise<void>;
  /**
   * Closes as BenignPositive / SuspiciousButExpected. Starts from `known` (a state read
   * earlier) when given, and re-reads the incident on etag conflicts.
   */
  closeIncident(incidentId: string, request: CloseRequest, known?: IncidentState): Promise<CloseResult>;
}

const CLOSE_ATTEMPTS = 4;

export function createSentinelGateway(
  credential: TokenCredential,
  workspace: WorkspaceRef,
  armEndpoint: string,
): SentinelGateway {
  const client = new SecurityInsights(credential, workspace.subscriptionId, {
    endpoint: armEndpoint,
    $host: armEndpoint,
    apiVersion: SENTINEL_API_VERSION,
    credentialScopes: [`${armEndpoint}/.default`],
  });
  const { resourceGroup: rg, name: ws } = workspace;

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      throw upstreamError("sentinel", what, error);
    }
  };

  const getIncident = async (incidentId: string): Promise<IncidentState | undefined> => {
    try {
      return toIncidentState(await client.incidents.get(rg, ws, incidentId));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw upstreamError("sentinel", `read incident ${incidentId}`, error);
    }
  };

  return {
    getIncident,

    listEntities: (incidentId) =>
      call(`list entities of incident ${incidentId}`, async () => {
        const response = await client.incidents.listEntities(rg, ws, incidentId);
        return (response.entities ?? []).map((entity) => {
          const { kind, ...properties } = entity as unknown as Record<string, unknown>;
          return { kind: String(kind), properties };
        });
      }),

    upsertComment: (incidentId, commentId, message) =>
      call(`comment on incident ${incidentId}`, async () => {
        await client.incidentComments.createOrUpdate(rg, ws, incidentId, commentId, { message });
      }),

    async closeIncident(incidentId, request, known) {
      for (let attempt = 1; ; attempt++) {
        const current = attempt === 1 && known ? known : await getIncident(incidentId);
        if (!current) throw new UpstreamError("sentinel", 404, `Incident ${incidentId} disappeared before it could be closed`);
        if (current.status === "Closed") return "already-closed";
        try {
          // title, severity and status are required by the API even on update; etag guards against
          // overwriting a change made since we read it.
          await client.incidents.createOrUpdate(rg, ws, incidentId, {
            etag: current.etag,
            title: current.title,
            severity: current.severity,
            status: "Closed",
            classification: "BenignPositive",
            classificationReason: "SuspiciousButExpected",
            classificationComment: request.classificationComment,
          });
          return "closed";
        } catch (error) {
          const status = statusOf(error);
          const conflict = status === 409 || status === 412;
          if (!conflict || attempt >= CLOSE_ATTEMPTS) throw upstreamError("sentinel", `close incident ${incidentId}`, error);
        }
      }
    },
  };
}

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
