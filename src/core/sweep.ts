import { deadline, type Deps, type Logger } from "../deps";
import { DeadlineError, messageOf, printable } from "../errors";
import type { IncidentState } from "../sentinel";
import type { IncidentRecord } from "../store";
import { recordFailure, remediateIncident } from "./remediate";
import type { Outcome } from "./report";

export interface SweepOptions {
  /** Incidents younger than this are left to their webhook. */
  graceMs: number;
  /** At most this many incidents are run per sweep. */
  maxPerRun: number;
  /** Incidents listed per page, and pages read per sweep. */
  pageSize: number;
  maxPages: number;
  /** Each incident's own deadline within the sweep. */
  perIncidentMs: number;
  dryRun?: boolean;
}

export const SWEEP_DEFAULTS: SweepOptions = { graceMs: 10 * 60_000, maxPerRun: 20, pageSize: 50, maxPages: 10, perIncidentMs: 60_000 };

/** The whole sweep stops within this long: under host.json's 5-minute functionTimeout and the 5-minute schedule. */
export const SWEEP_DEADLINE_MS = 4 * 60_000;

/** A change to the incident this long after the app's last run is someone else's. */
const CHANGE_SLACK_MS = 60_000;

export interface SweepSummary {
  /** New incidents in the window (any rule), and of those, the configured rules'. */
  listed: number;
  ours: number;
  /** Incidents run, by the outcome they reached. */
  ran: Partial<Record<Outcome, string[]>>;
  /** Not due (decided earlier, nothing changed), or not readable this time. */
  skipped: string[];
  /** Runs that threw (Graph, Sentinel, deadline); each is counted against SWEEP_MAX_ATTEMPTS. */
  failed: string[];
  /** Due but left for the next sweep (maxPerRun or the sweep's deadline). */
  deferred: string[];
}

/**
 * Finds the configured rules' New incidents that need the app (webhook never arrived, delivery
 * awaited, hourly cap, failed and under the attempt limit, handled in dry run before the switch
 * to enforce, or changed by an analyst since) and runs the pipeline on each. Newest first; an
 * incident tried before waits behind those never tried, so failing ones cannot block new ones.
 */
export async function sweepOpenIncidents(deps: Deps, log: Logger, signal: AbortSignal, options: SweepOptions = SWEEP_DEFAULTS): Promise<SweepSummary> {
  const { config, sentinel, store } = deps;
  const dryRun = options.dryRun ?? config.dryRun;
  const now = deps.now();
  const listed = await sentinel.listNewIncidents(
    {
      createdAfter: new Date(now - config.sweep.maxAgeMs),
      createdBefore: new Date(now - options.graceMs),
      maxPages: options.maxPages,
      pageSize: options.pageSize,
    },
    signal,
  );
  // Rule ids are matched here: the incidents list documents no filter on relatedAnalyticRuleIds.
  const ours = listed.filter((i) => i.ruleIds.some((r) => config.allowedRuleIds.includes(r)));
  const summary: SweepSummary = { listed: listed.length, ours: ours.length, ran: {}, skipped: [], failed: [], deferred: [] };

  const due: { incident: IncidentState; record: IncidentRecord | undefined; why: string }[] = [];
  for (const incident of ours) {
    if (signal.aborted) break;
    let record: IncidentRecord | undefined;
    try {
      record = await store.getIncident(incident.name, signal);
    } catch (error) {
      log.warn(`sweep: incident ${incident.name} skipped, its state could not be read: ${printable(messageOf(error), 300)}`);
      summary.skipped.push(incident.name);
      continue;
    }
    const why = dueReason(incident, record, config.sweep.maxAttempts, dryRun);
    if (why) due.push({ incident, record, why });
    else summary.skipped.push(incident.name);
  }
  // Never tried first (newest first, as listed), then the least recently tried.
  due.sort((a, b) => (a.record?.updatedAt ?? -1) - (b.record?.updatedAt ?? -1));

  for (const [n, { incident, record, why }] of due.entries()) {
    if (n >= options.maxPerRun || signal.aborted) {
      summary.deferred.push(incident.name);
      continue;
    }
    log.info(`sweep: incident ${incident.name}: ${why}`);
    const own = deadline(options.perIncidentMs, () => new DeadlineError(Math.round(options.perIncidentMs / 1000)));
    const stop = AbortSignal.any([signal, own.signal]);
    try {
      const result = await remediateIncident(
        { incidentId: incident.name, armId: incident.id, workspace: config.workspace },
        deps,
        log,
        stop,
        { dryRun, verifyWithinMs: 0 },
      );
      (summary.ran[result.outcome] ??= []).push(incident.name);
    } catch (error) {
      log.warn(`sweep: incident ${incident.name} not remediated: ${printable(messageOf(error), 300)}`);
      summary.failed.push(incident.name);
      // The incident's own deadline passed (the sweep's has not): count the attempt.
      if (own.signal.aborted && !signal.aborted) await recordFailure(incident, record, own.signal.reason as DeadlineError, deps, log, signal);
    } finally {
      own.clear();
    }
  }
  const ran = Object.entries(summary.ran).map(([o, ids]) => `${o} ${ids.length}`);
  log.info(
    `sweep: ${summary.listed} New incident(s) in the window, ${summary.ours} of the configured rules; ` +
      `ran ${ran.length ? ran.join(", ") : "none"}; failed ${summary.failed.length}, skipped ${summary.skipped.length}, deferred ${summary.deferred.length}`,
  );
  return summary;
}

/** Why the sweeper should run this incident now, or undefined when it should leave it alone. */
export function dueReason(incident: IncidentState, record: IncidentRecord | undefined, maxAttempts: number, dryRun: boolean): string | undefined {
  if (!record) return "no run recorded (its webhook never arrived or was a dry run)";
  const changed = incident.lastModifiedTimeUtc !== undefined && incident.lastModifiedTimeUtc.getTime() > record.updatedAt + CHANGE_SLACK_MS;
  switch (record.outcome) {
    case "awaiting-delivery":
      return "reprocess requested earlier; checking delivery";
    case "capped":
      return "waited for the hourly cap";
    case "failed":
      if (record.waitingSince !== undefined) return "reprocess requested earlier; checking delivery";
      return record.failures < maxAttempts ? `attempt ${record.failures + 1} of ${maxAttempts}` : undefined;
    case "dry-run":
      return dryRun ? undefined : "handled in dry run; now enforcing";
    default:
      return changed ? "changed since the app's last run" : undefined;
  }
}
