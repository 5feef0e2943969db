import * as z from "zod/mini";
import { GUID, ruleGuid, sameName as same, type WorkspaceRef } from "./config";
import { messageOf, RequestError } from "./errors";
import type { IncidentEntity } from "./sentinel";

/**
 * The body the Microsoft Sentinel incident trigger produces (what the playbook forwards).
 * Only the fields that locate the incident are validated and acted on: the body is a pointer,
 * and everything else (entities, status, rule ids) is re-read from Sentinel. The entities and
 * rule ids it claims are kept aside, leniently, for read-ahead only. Unknown fields are ignored.
 */
const nonEmpty = z
  .string({ error: "must be a string" })
  .check(z.trim(), z.minLength(1, "must not be empty"), z.maxLength(1024, "is too long"));

export const incidentTriggerSchema = z.object(
  {
    objectSchemaType: z.literal("Incident", { error: 'must be "Incident"' }),
    workspaceInfo: z.object(
      {
        SubscriptionId: z.string({ error: "must be a string" }).check(z.regex(GUID, "must be a subscription id (GUID)")),
        ResourceGroupName: nonEmpty,
        WorkspaceName: nonEmpty,
      },
      { error: "is required (object)" },
    ),
    object: z.object(
      {
        id: nonEmpty,
        name: z.string({ error: "must be a string" }).check(z.regex(GUID, "must be the incident id (GUID)")),
      },
      { error: "is required (object)" },
    ),
  },
  { error: "must be a JSON object" },
);

export interface IncidentPointer {
  /** Incident name (GUID): the id used in Sentinel ARM paths. */
  incidentId: string;
  /** Full ARM resource id as sent. */
  armId: string;
  workspace: WorkspaceRef;
  /**
   * What the body says the incident holds (`object.properties.relatedEntities` and
   * `relatedAnalyticRuleIds`). Never acted on: it only lets reads start early, and only what
   * Sentinel's own copy of the incident confirms is used (see core/remediate.ts).
   */
  claimed?: { entities: IncidentEntity[]; ruleIds: string[] };
}

/** At most this many claimed entities are looked at; Sentinel's own list is read in full. */
const MAX_CLAIMED = 50;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The body's own entities and rule ids, leniently: a malformed or missing list is just empty. */
function claimedContent(object: unknown): NonNullable<IncidentPointer["claimed"]> {
  const properties = isRecord(object) && isRecord(object.properties) ? object.properties : {};
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v.slice(0, MAX_CLAIMED) : []);
  return {
    entities: list(properties.relatedEntities).flatMap((e) =>
      isRecord(e) && typeof e.kind === "string" && isRecord(e.properties) ? [{ kind: e.kind, properties: e.properties }] : [],
    ),
    ruleIds: list(properties.relatedAnalyticRuleIds).flatMap((r) => (typeof r === "string" ? [ruleGuid(r)] : [])),
  };
}

const INCIDENT_ARM_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.OperationalInsights\/workspaces\/([^/]+)\/providers\/Microsoft\.SecurityInsights\/incidents\/([^/]+)$/i;

/** Validates an already-parsed JSON value as a Sentinel incident trigger body. */
export function parseIncidentTrigger(body: unknown): IncidentPointer {
  const parsed = incidentTriggerSchema.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "body"} ${i.message}`);
    throw new RequestError("InvalidIncident", `Not a Sentinel incident trigger body: ${problems.join("; ")}`);
  }
  const { workspaceInfo, object } = parsed.data;
  const match = INCIDENT_ARM_ID.exec(object.id);
  if (!match) {
    throw new RequestError(
      "InvalidIncident",
      "Not a Sentinel incident trigger body: object.id must be an incident resource id " +
        "(/subscriptions/…/workspaces/…/providers/Microsoft.SecurityInsights/Incidents/<id>)",
    );
  }
  const [, sub, rg, ws, name] = match as unknown as [string, string, string, string, string];
  const mismatched = [
    same(sub, workspaceInfo.SubscriptionId) ? null : "workspaceInfo.SubscriptionId",
    same(rg, workspaceInfo.ResourceGroupName) ? null : "workspaceInfo.ResourceGroupName",
    same(ws, workspaceInfo.WorkspaceName) ? null : "workspaceInfo.WorkspaceName",
    same(name, object.name) ? null : "object.name",
  ].filter((x): x is string => x !== null);
  if (mismatched.length > 0) {
    throw new RequestError("InvalidIncident", `Not a Sentinel incident trigger body: object.id disagrees with ${mismatched.join(", ")}`);
  }
  return {
    incidentId: object.name.toLowerCase(),
    armId: object.id,
    workspace: {
      subscriptionId: workspaceInfo.SubscriptionId.toLowerCase(),
      resourceGroup: workspaceInfo.ResourceGroupName,
      name: workspaceInfo.WorkspaceName,
    },
    claimed: claimedContent((body as { object?: unknown }).object),
  };
}

/** Parses raw request text as JSON, then as a trigger body. */
export function parseIncidentTriggerText(text: string): IncidentPointer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const detail = messageOf(error);
    throw new RequestError("InvalidJson", `Request body is not valid JSON: ${detail}`);
  }
  return parseIncidentTrigger(json);
}
