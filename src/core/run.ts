import type { Deps, Logger } from "../deps";
import type { IncidentRecord } from "../store";
import type { Wave } from "./domain";
import type { RemediationSummary } from "./report";
import type { Snapshot } from "./snapshot";

/**
 * What one run on one incident shares between its steps (src/core/remediate.ts), and how it
 * writes its record: every write conditional on the etag of the run's previous read or write.
 */

/** What the steps learn, passed along: each step returns the facts it adds. */
export type Facts = Omit<RemediationSummary, "outcome" | "message" | "closed" | "commentId">;

/**
 * One run on one incident: everything the steps share, so that each step takes this one object.
 * `snap`, `record` and `etag` always hold the latest read or write, so every decision and every
 * change works on the same facts.
 */
export interface Run {
  deps: Deps;
  log: Logger;
  signal: AbortSignal;
  dryRun: boolean;
  /** A dry run asked for by hand (the CLI) of an enforcing deployment: it must not count as handled. */
  dryRunByHand: boolean;
  verifyWithinMs: number;
  invocationId: string;
  /** What a failure's comment says of its cause: only a refusal an admin must fix (a permission); the rest stays in the log. */
  failureCause?: string;
  /** The latest decision snapshot: the one every check and the next change work from. */
  snap: Snapshot;
  /**
   * The etag of the snapshot before `snap`. The incident and its entities are read in parallel,
   * so one snapshot alone may pair an incident read after a change with entities read before it;
   * when two snapshots in a row carry the same etag, nothing changed between them and the later
   * one's entities are those of that etag. Only such a snapshot's etag is closed with.
   */
  previousEtag?: string;
  /** The app's record as of the claim, and the etag its next write must match. */
  record: IncidentRecord | undefined;
  etag: string | undefined;
  /** Resolves once the run holds the lease; rejects with Busy when another run does. */
  claimed: Promise<void>;
  /** The lease this run holds once claimed: every write before the last one keeps it. */
  lease?: { owner: string; until: number };
}

/** Another run holds the incident. */
export class Busy extends Error {}

/** The fields every write carries over: the wave (never dropped once recorded), the comment count. */
export function baseRecord(run: Run): IncidentRecord {
  const r = run.record;
  return {
    outcome: r?.outcome ?? "new",
    dryRun: run.dryRun,
    ...(run.dryRunByHand ? { byHand: true } : {}),
    failures: r?.failures ?? 0,
    comments: r?.comments ?? 0,
    ...(r?.wave ? { wave: r.wave } : {}),
    ...(r?.reason !== undefined ? { reason: r.reason } : {}),
    ...(r?.damaged ? { damaged: r.damaged } : {}),
    incident: {
      title: run.snap.incident.title,
      ...(run.snap.incident.incidentNumber !== undefined ? { number: run.snap.incident.incidentNumber } : {}),
    },
    updatedAt: run.deps.now(),
  };
}

/** Records the wave (and what its calls answered), still holding the lease. */
export function recordWave(run: Run, wave: Wave): Promise<void> {
  return save(run, { ...baseRecord(run), outcome: "reprocess-requested", wave, ...(run.lease ? { lease: run.lease } : {}) });
}

/** A conditional write of the record; the run then works from what it wrote. */
export async function save(run: Run, record: IncidentRecord): Promise<void> {
  const written = { ...record, updatedAt: run.deps.now() };
  run.etag = await run.deps.store.save(run.snap.incident.name, written, run.etag, run.signal);
  run.record = written;
}

export function factsOf({ incident, found }: Snapshot, dryRun: boolean): Facts {
  return {
    incident: {
      id: incident.name,
      ...(incident.incidentNumber !== undefined ? { number: incident.incidentNumber } : {}),
      title: incident.title,
      ...(incident.incidentUrl ? { url: incident.incidentUrl } : {}),
    },
    dryRun,
    users: found.users,
    groups: found.groups,
    ...(Object.keys(found.groupNames).length ? { groupNames: found.groupNames } : {}),
    applications: found.apps,
    decisions: [],
    reprocessed: [],
    wouldReprocess: [],
    skipped: [],
    failed: [],
    needsAttention: [],
    restored: [],
    notRestored: [],
  };
}
