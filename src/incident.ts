import * as z from "zod/mini";
import { GUID, sameName as same, type WorkspaceRef } from "./config";
import { messageOf, printable, RequestError } from "./errors";

/**
 * The body the Microsoft Sentinel incident trigger produces (what the playbook forwards).
 * Only the fields that locate the incident are validated and used: the body is a pointer, and
 * everything else (entities, status, rule ids, alerts) is re-read from Sentinel. Other fields are
 * ignored.
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
  };
}

/** Parses raw request text as JSON, then as a trigger body. */
export function parseIncidentTriggerText(text: string): IncidentPointer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const detail = printable(messageOf(error));
    throw new RequestError("InvalidJson", `Request body is not valid JSON: ${detail}`);
  }
  return parseIncidentTrigger(json);
}
