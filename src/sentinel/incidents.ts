import { getContinuationToken, type Incident } from "@azure/arm-securityinsight";
import * as z from "zod/mini";
import { RequestError, statusOf, upstreamError, UpstreamError } from "../errors";
import { RESPONDER, type Arm } from "./arm";

export interface IncidentOwner {
  objectId?: string;
  email?: string;
  assignedTo?: string;
  userPrincipalName?: string;
}

/** An incident as read from Sentinel: what the guards look at and what a close writes back. */
export interface IncidentState {
  id: string;
  name: string;
  etag: string;
  title: string;
  severity: string;
  status: string;
  description?: string;
  owner?: IncidentOwner;
  labels: string[];
  firstActivityTimeUtc?: Date;
  lastActivityTimeUtc?: Date;
  createdTimeUtc?: Date;
  lastModifiedTimeUtc?: Date;
  incidentNumber?: number;
  incidentUrl?: string;
  /** relatedAnalyticRuleIds as read: full ARM ids of analytics rules (lower case). */
  ruleIds: string[];
  /**
   * additionalData.alertProductNames: the products whose alerts the incident holds. Optional in
   * the spec (Defender-portal incidents may lack it): then the alerts are read (listAlerts).
   */
  alertProductNames?: string[];
  alertsCount?: number;
  /** owner.ownerType: "User" (an analyst owns it), "Group" (a queue) or "Unknown". */
  ownerType?: string;
}

/** An incident entity as Sentinel returns it: its kind and its (flattened) properties. */
export interface IncidentEntity {
  kind: string;
  properties: Record<string, unknown>;
}

export interface CloseRequest {
  classificationComment: string;
  /** Label added to the incident's labels. */
  label: string;
}

/** closed; conflict: the incident changed since the read whose etag the close carried (re-read and decide again). */
export type CloseResult = "closed" | "conflict";

export interface CandidateQuery {
  createdAfter: Date;
  createdBefore: Date;
  maxPages: number;
  pageSize: number;
  /** Which incidents to keep (the others are dropped page by page). */
  keep: (incident: IncidentState) => boolean;
}

export interface CandidateList {
  kept: IncidentState[];
  /** Incidents read, kept or not. */
  read: number;
  /** The page bound stopped the listing before its end. */
  truncated: boolean;
}

export interface AlertList {
  products: string[];
  complete: boolean;
}

/** What the pipeline needs from Sentinel: its incidents. One workspace, fixed by configuration. Every call stops when `signal` aborts. */
export interface IncidentApi {
  /** Returns undefined when the incident does not exist. */
  getIncident(incidentId: string, signal: AbortSignal): Promise<IncidentState | undefined>;
  listEntities(incidentId: string, signal: AbortSignal): Promise<IncidentEntity[]>;
  /**
   * The product of each alert of the incident (POST …/incidents/{id}/alerts), and whether the
   * answer was whole: the API documents no paging, so a next link means the list is not all.
   */
  listAlertProducts(incidentId: string, signal: AbortSignal): Promise<AlertList>;
  /** Incidents in status New created in the window, newest first, read page by page within `maxPages`. */
  listNewIncidents(query: CandidateQuery, signal: AbortSignal): Promise<CandidateList>;
  /** Creates or replaces the comment with this id (an idempotent upsert). */
  upsertComment(incidentId: string, commentId: string, message: string, signal: AbortSignal): Promise<void>;
  /**
   * Closes as BenignPositive / SuspiciousButExpected with a label, writing back only the
   * writable properties as read, conditional on the read's etag: any change since (status,
   * owner, labels, a merged alert) answers "conflict" and nothing is written.
   */
  closeIncident(incident: IncidentState, request: CloseRequest, signal: AbortSignal): Promise<CloseResult>;
}

const incidentShape = z.object({
  id: z.string(),
  name: z.string().check(z.minLength(1)),
  etag: z.string().check(z.minLength(1)),
  title: z.string(),
  severity: z.string(),
  status: z.string(),
  relatedAnalyticRuleIds: z.optional(z.array(z.string())),
  additionalData: z.optional(z.object({ alertProductNames: z.optional(z.array(z.string())), alertsCount: z.optional(z.number()) })),
  labels: z.optional(z.array(z.object({ labelName: z.string() }))),
});
const entitiesShape = z.object({ entities: z.array(z.object({ kind: z.string() })) });
const alertsShape = z.object({ value: z.array(z.object({ productName: z.optional(z.string()) })), nextLink: z.optional(z.string()) });
/** The incident API the pipeline uses: read, list, comment and close incidents of the workspace. */
export function incidentApi({ client, policy, rg, ws, endpoint: arm, call, readOrMissing }: Arm): IncidentApi {
  const toState = (incident: unknown, what: string): IncidentState => {
    const parsed = incidentShape.safeParse(incident);
    if (!parsed.success) {
      const where = parsed.error.issues[0]?.path.join(".") || "body";
      throw new UpstreamError("sentinel", 200, `Sentinel could not ${what}: the answer is not the documented incident (${where})`);
    }
    return toIncidentState(incident as Incident, parsed.data);
  };

  const getIncident = async (incidentId: string, signal: AbortSignal): Promise<IncidentState | undefined> => {
    const what = `read incident ${incidentId}`;
    const incident = await readOrMissing(signal, what, (abortSignal) => client.incidents.get(rg, ws, incidentId, { abortSignal }));
    return incident === undefined ? undefined : toState(incident, what);
  };

  return {
    getIncident,

    async listNewIncidents(query, signal) {
      const what = "list new incidents";
      const filter =
        `properties/status eq 'New' and properties/createdTimeUtc ge ${query.createdAfter.toISOString()} ` +
        `and properties/createdTimeUtc le ${query.createdBefore.toISOString()}`;
      const kept: IncidentState[] = [];
      const seen = new Set<string>();
      let read = 0;
      let token: string | undefined;
      for (let page = 0; ; page++) {
        if (page >= query.maxPages) return { kept, read, truncated: true };
        const result = await call(signal, what, async (abortSignal) => {
          const pages = client.incidents
            .list(rg, ws, { filter, orderby: "properties/createdTimeUtc desc", top: query.pageSize, abortSignal })
            .byPage(token !== undefined ? { continuationToken: token } : undefined);
          const next = await pages.next();
          return next.done ? undefined : { items: next.value, token: getContinuationToken(next.value) };
        });
        if (!result) break;
        read += result.items.length;
        kept.push(...result.items.map((i) => toState(i, what)).filter(query.keep));
        token = result.token;
        if (token === undefined) break;
        if (seen.has(token))
          throw new UpstreamError("sentinel", 200, `Sentinel could not ${what}: a next page link repeats an earlier page`);
        seen.add(token);
      }
      return { kept, read, truncated: false };
    },

    listEntities: (incidentId, signal) =>
      call(
        signal,
        `list entities of incident ${incidentId}`,
        async (abortSignal) => {
          const response = await client.incidents.listEntities(rg, ws, incidentId, { abortSignal });
          if (!entitiesShape.safeParse(response).success) {
            throw new UpstreamError(
              "sentinel",
              200,
              `Sentinel could not list entities of incident ${incidentId}: the answer has no entities list`,
            );
          }
          return (response.entities ?? []).map((entity) => {
            const { kind, ...properties } = entity as unknown as Record<string, unknown>;
            return { kind: String(kind), properties };
          });
        },
        () => deleted(incidentId),
      ),

    listAlertProducts: (incidentId, signal) =>
      call(
        signal,
        `list the alerts of incident ${incidentId}`,
        async (abortSignal) => {
          const response = await client.incidents.listAlerts(rg, ws, incidentId, { abortSignal });
          const parsed = alertsShape.safeParse(response);
          if (!parsed.success) {
            throw new UpstreamError(
              "sentinel",
              200,
              `Sentinel could not list the alerts of incident ${incidentId}: the answer has no alerts list`,
            );
          }
          // An alert that names no product is not known to be Sentinel's own.
          return {
            products: parsed.data.value.map((a) => a.productName ?? "(no product name)"),
            complete: parsed.data.nextLink === undefined || parsed.data.nextLink === "",
          };
        },
        () => deleted(incidentId),
      ),

    upsertComment: (incidentId, commentId, message, signal) =>
      call(
        signal,
        `comment on incident ${incidentId}`,
        async (abortSignal) => {
          await client.incidentComments.createOrUpdate(rg, ws, incidentId, commentId, { message }, { abortSignal });
        },
        () => deleted(incidentId),
      ),

    async closeIncident(incident, request, signal) {
      try {
        await policy.run(signal, (abortSignal) =>
          client.incidents.createOrUpdate(rg, ws, incident.name, closeBody(incident, request), { abortSignal }),
        );
        return "closed";
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) throw deleted(incident.name);
        // Someone changed the incident since it was read: the caller re-reads and decides again.
        if (status === 409 || status === 412) return "conflict";
        throw upstreamError("sentinel", `close incident ${incident.name}`, error, RESPONDER, arm);
      }
    },
  };
}

/**
 * The PUT body for the close: the writable properties of the 2024-09-01 incident as read (so
 * title, severity, description, owner, labels and activity times stay), the classification,
 * and the etag that guards against overwriting a change made since. Read-only properties
 * (additionalData, providerName, …) and empty owner fields are left out.
 */
export function closeBody(current: IncidentState, request: CloseRequest): Incident {
  const owner: Record<string, string> = Object.fromEntries(
    Object.entries(current.owner ?? {}).filter(([, v]) => typeof v === "string" && v !== ""),
  );
  // A queue (Group) owner stays a queue.
  if (Object.keys(owner).length > 0 && current.ownerType && current.ownerType !== "Unknown") owner.ownerType = current.ownerType;
  const labels = [...new Set([...current.labels, request.label])];
  return {
    etag: current.etag,
    title: current.title,
    severity: current.severity,
    status: "Closed",
    classification: "BenignPositive",
    classificationReason: "SuspiciousButExpected",
    classificationComment: request.classificationComment,
    labels: labels.map((labelName) => ({ labelName })),
    ...(current.description !== undefined ? { description: current.description } : {}),
    ...(Object.keys(owner).length > 0 ? { owner } : {}),
    ...(current.firstActivityTimeUtc ? { firstActivityTimeUtc: current.firstActivityTimeUtc } : {}),
    ...(current.lastActivityTimeUtc ? { lastActivityTimeUtc: current.lastActivityTimeUtc } : {}),
  };
}

const deleted = (incidentId: string) =>
  new RequestError("IncidentNotFound", `Incident ${incidentId} was deleted while it was being remediated; nothing more to do`);

function toIncidentState(incident: Incident, checked: z.output<typeof incidentShape>): IncidentState {
  const owner = incident.owner;
  return {
    id: checked.id,
    name: checked.name.toLowerCase(),
    etag: checked.etag,
    title: checked.title,
    severity: checked.severity,
    status: checked.status,
    ...(incident.description !== undefined ? { description: incident.description } : {}),
    ...(owner
      ? {
          owner: Object.fromEntries(
            (["objectId", "email", "assignedTo", "userPrincipalName"] as const).flatMap((k) =>
              typeof owner[k] === "string" ? [[k, owner[k]]] : [],
            ),
          ),
        }
      : {}),
    labels: (checked.labels ?? []).map((l) => l.labelName),
    ...(incident.firstActivityTimeUtc ? { firstActivityTimeUtc: incident.firstActivityTimeUtc } : {}),
    ...(incident.lastActivityTimeUtc ? { lastActivityTimeUtc: incident.lastActivityTimeUtc } : {}),
    ...(incident.createdTimeUtc ? { createdTimeUtc: incident.createdTimeUtc } : {}),
    ...(incident.lastModifiedTimeUtc ? { lastModifiedTimeUtc: incident.lastModifiedTimeUtc } : {}),
    ...(incident.incidentNumber !== undefined ? { incidentNumber: incident.incidentNumber } : {}),
    ...(incident.incidentUrl ? { incidentUrl: incident.incidentUrl } : {}),
    ruleIds: (checked.relatedAnalyticRuleIds ?? []).map((r) => r.trim().toLowerCase()),
    ...(checked.additionalData?.alertProductNames ? { alertProductNames: checked.additionalData.alertProductNames } : {}),
    ...(checked.additionalData?.alertsCount !== undefined ? { alertsCount: checked.additionalData.alertsCount } : {}),
    ...(typeof owner?.ownerType === "string" ? { ownerType: owner.ownerType } : {}),
  };
}
