import { ruleArmId } from "../config";
import type { Deps } from "../deps";
import { RequestError } from "../errors";
import type { AlertList, IncidentState } from "../sentinel";
import type { Pair } from "./domain";
import { extractEntities, type ExtractedEntities } from "./entities";

/**
 * One decision snapshot: the incident, what its entities name and (when the incident does not list
 * its alerts' products itself) its alerts, read together. Every guard and the plan take one
 * snapshot, never pieces read at different times; every re-read makes a whole new snapshot, and
 * a close carries the etag of the snapshot whose checks passed.
 */
export interface Snapshot {
  incident: IncidentState;
  found: ExtractedEntities;
  /** The incident's alerts, read when it does not list their products (Defender-portal incidents may not). */
  alerts?: AlertList;
}

/**
 * Reads a snapshot. The incident and its entities are read in parallel; the alerts, when needed,
 * right after the incident (an alert merged meanwhile changes the incident's etag, which the
 * close carries). An incident that does not exist is the caller's error.
 */
export async function readSnapshot(incidentId: string, deps: Pick<Deps, "sentinel">, signal: AbortSignal): Promise<Snapshot> {
  const [incident, entities] = await Promise.all([
    deps.sentinel.getIncident(incidentId, signal),
    deps.sentinel.listEntities(incidentId, signal).catch((error: unknown) => error as Error),
  ]);
  if (!incident) throw new RequestError("IncidentNotFound", `Incident ${incidentId} does not exist in the configured workspace`);
  if (entities instanceof Error) throw entities;
  const alerts = incident.alertProductNames?.length ? undefined : await deps.sentinel.listAlertProducts(incident.name, signal);
  return { incident, found: extractEntities(entities), ...(alerts ? { alerts } : {}) };
}

/**
 * Which role of its groups the incident reports lost: ownership for the alerts of
 * SENTINEL_OWNER_RULE_IDS, membership for the others. An incident that merges both kinds of
 * alert does not say which group lost which role: each of its groups is checked for both.
 */
function groupRoles(snapshot: Snapshot, config: Deps["config"]): Pair["kind"][] {
  const ownerRules = new Set(config.ownerRuleIds.map((r) => ruleArmId(config.workspace, r)));
  const roles = new Set(snapshot.incident.ruleIds.map((r) => (ownerRules.has(r) ? ("owner" as const) : ("group" as const))));
  return roles.size > 0 ? [...roles] : ["group"];
}

/** Every (user, group role or application) pair the snapshot names: what must be restored before the incident is closed. */
export function pairsOf(snapshot: Snapshot, config: Deps["config"]): Pair[] {
  const { users, groups, apps } = snapshot.found;
  const roles = groupRoles(snapshot, config);
  return users.flatMap((u) => [
    ...groups.flatMap((g) => roles.map((kind) => ({ userId: u.objectId, kind, targetId: g }))),
    ...apps.map((a) => ({ userId: u.objectId, kind: "app" as const, targetId: a })),
  ]);
}
