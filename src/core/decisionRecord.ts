import type { Guard, Outcome, Pair } from "./domain";
import type { RemediationSummary } from "./report";

/**
 * The structured record each decision writes to the log, one line: this prefix, a space, then
 * JSON. In Azure the Functions host sends it to Application Insights (the `AppTraces` table of its
 * workspace, in `Message`), where the workbook "Access package remediation" reads it with
 * `parse Message with "AccessPackageRemediation.Decision " Record:string`. docs/workbook.md
 * describes every field; `v` changes when a field changes meaning.
 */
export const DECISION_RECORD = "AccessPackageRemediation.Decision";

/** Restored pairs listed in one record; more are counted in `restoredCount` only. */
export const MAX_RECORDED_PAIRS = 50;

export interface DecisionRecord {
  v: 1;
  /** The incident's resource name (SecurityIncident.IncidentName) and number. */
  incidentId: string;
  incidentNumber?: number;
  outcome: Outcome;
  dryRun: boolean;
  /** When the decision was made (ISO 8601). */
  at: string;
  /** When the reprocess wave was requested, once there is one (ISO 8601). */
  requestedAt?: string;
  /** The guards that held, each once. */
  holds: Guard[];
  users: number;
  reprocessed: number;
  /** The pairs seen restored: user, what (group membership, group ownership, app role), target id and name. */
  restored: { userId: string; kind: Pair["kind"]; targetId: string; targetName?: string }[];
  restoredCount: number;
  notRestored: number;
}

export function decisionRecord(s: RemediationSummary, at: number, requestedAt?: number): DecisionRecord {
  return {
    v: 1,
    incidentId: s.incident.id,
    ...(s.incident.number !== undefined ? { incidentNumber: s.incident.number } : {}),
    outcome: s.outcome,
    dryRun: s.dryRun,
    at: new Date(at).toISOString(),
    ...(requestedAt !== undefined ? { requestedAt: new Date(requestedAt).toISOString() } : {}),
    holds: [...new Set(s.decisions.filter((d) => d.result === "hold").map((d) => d.guard))],
    users: s.users.length,
    reprocessed: s.reprocessed.length,
    restored: s.restored.slice(0, MAX_RECORDED_PAIRS).map((p) => ({
      userId: p.userId,
      kind: p.kind,
      targetId: p.targetId,
      ...(p.kind !== "app" && s.groupNames?.[p.targetId] ? { targetName: s.groupNames[p.targetId] } : {}),
    })),
    restoredCount: s.restored.length,
    notRestored: s.notRestored.length,
  };
}

/** The log line: the prefix, then the record as JSON. */
export const decisionLine = (record: DecisionRecord) => `${DECISION_RECORD} ${JSON.stringify(record)}`;
