import { deadline, forCallsInFlight, type Deps, type Logger } from "../deps";
import { DeadlineError, messageOf, printable } from "../errors";
import type { IncidentState } from "../sentinel";
import { leaseHolds, type IncidentRecord } from "../store";
import { ruleArmId } from "../config";
import { remediateIncident } from "./remediate";
import type { Outcome } from "./domain";

export interface SweepOptions {
  /** Incidents younger than this are left to their webhook (unless includeRecent). */
  graceMs: number;
  /** Also run incidents younger than graceMs (a sweep by hand right after creating incidents). */
  includeRecent?: boolean;
  /** At most this many incidents are run per sweep. */
  maxPerRun: number;
  /** Incidents listed per page, and pages read per sweep. */
  pageSize: number;
  maxPages: number;
  /** Each incident's own deadline within the sweep. */
  perIncidentMs: number;
  dryRun?: boolean;
  /** Enforcing: also act on incidents an earlier dry run handled (the switch to enforce does not reach back otherwise). */
  includeDryRun?: boolean;
  /** The timer's invocation id, which a failure's comment names. */
  invocationId?: string;
}

/**
 * The listing has no documented filter on the analytics rule, so the sweeper reads New incidents
 * newest first and keeps its rule's: 25 pages of 200 reach its incidents behind 5,000 newer ones
 * of other rules and products (only its own are kept in memory).
 */
export const SWEEP_DEFAULTS: SweepOptions = { graceMs: 10 * 60_000, maxPerRun: 20, pageSize: 200, maxPages: 25, perIncidentMs: 60_000 };

/** The whole sweep stops within this long: under host.json's 5-minute functionTimeout and the 5-minute schedule. */
export const SWEEP_DEADLINE_MS = 4 * 60_000;

/** A change to the incident this long after the app's last run is someone else's. */
const CHANGE_SLACK_MS = 60_000;

export interface SweepSummary {
  /** New incidents in the window (any rule), and of those, the configured rules'. */
  listed: number;
  ours: number;
  /** The page bound stopped the listing: older incidents in the window were not seen this time. */
  truncated: boolean;
  /** The rules' incidents younger than the grace, left to their webhook (run with includeRecent). */
  recent: string[];
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
export async function sweepOpenIncidents(
  deps: Deps,
  log: Logger,
  signal: AbortSignal,
  options: SweepOptions = SWEEP_DEFAULTS,
): Promise<SweepSummary> {
  const { config, sentinel, store } = deps;
  const dryRun = options.dryRun ?? config.dryRun;
  const now = deps.now();
  // Rule ids are matched page by page: the incidents list documents no filter on relatedAnalyticRuleIds.
  const rules = new Set(config.allowedRuleIds.map((r) => ruleArmId(config.workspace, r)));
  const listing = await sentinel.listNewIncidents(
    {
      createdAfter: new Date(now - config.sweep.maxAgeMs),
      createdBefore: new Date(now),
      maxPages: options.maxPages,
      pageSize: options.pageSize,
      keep: (i) => i.ruleIds.some((r) => rules.has(r)),
    },
    signal,
  );
  const young = (i: IncidentState) => !options.includeRecent && (i.createdTimeUtc?.getTime() ?? 0) > now - options.graceMs;
  const ours = listing.kept.filter((i) => !young(i));
  const recent = listing.kept.filter(young).map((i) => i.name);
  const summary: SweepSummary = {
    listed: listing.read,
    ours: listing.kept.length,
    truncated: listing.truncated,
    recent,
    ran: {},
    skipped: [],
    failed: [],
    deferred: [],
  };
  if (listing.truncated)
    log.warn(`sweep: stopped after ${listing.read} New incidents (${options.maxPages} pages); older ones are not seen this time`);

  const due: { incident: IncidentState; record: IncidentRecord | undefined; why: string }[] = [];
  for (const incident of ours) {
    if (signal.aborted) break;
    let record: IncidentRecord | undefined;
    try {
      record = (await store.read(incident.name, signal)).record;
    } catch (error) {
      log.warn(`sweep: incident ${incident.name} skipped, its state could not be read: ${printable(messageOf(error), 300)}`);
      summary.skipped.push(incident.name);
      continue;
    }
    const why = dueReason(incident, record, {
      maxAttempts: config.sweep.maxAttempts,
      dryRun,
      includeDryRun: options.includeDryRun ?? false,
      now,
    });
    if (why) due.push({ incident, record, why });
    else summary.skipped.push(incident.name);
  }
  // Never tried first (newest first, as listed), then the least recently tried.
  due.sort((a, b) => (a.record?.updatedAt ?? -1) - (b.record?.updatedAt ?? -1));

  for (const [n, { incident, why }] of due.entries()) {
    if (n >= options.maxPerRun || signal.aborted) {
      summary.deferred.push(incident.name);
      continue;
    }
    log.debug(`sweep: incident ${incident.name}: ${why}`);
    const own = deadline(options.perIncidentMs, () => new DeadlineError(Math.round(options.perIncidentMs / 1000)));
    const stop = forCallsInFlight(AbortSignal.any([signal, own.signal]));
    try {
      const result = await remediateIncident(
        { incidentId: incident.name, armId: incident.id, workspace: config.workspace },
        deps,
        log,
        stop,
        {
          dryRun,
          verifyWithinMs: 0,
          leaseMs: options.perIncidentMs + 30_000,
          ...(options.invocationId ? { invocationId: options.invocationId } : {}),
        },
      );
      (summary.ran[result.outcome] ??= []).push(incident.name);
    } catch (error) {
      log.warn(`sweep: incident ${incident.name} not remediated: ${printable(messageOf(error), 300)}`);
      summary.failed.push(incident.name);
    } finally {
      own.clear();
    }
  }
  const ran = Object.entries(summary.ran).map(([o, ids]) => `${o} ${ids.length}`);
  if (!signal.aborted) {
    const note = {
      at: deps.now(),
      listed: summary.listed,
      ran: Object.values(summary.ran).reduce((n, ids) => n + ids.length, 0),
      failed: summary.failed.length,
      recent: summary.recent.length,
    };
    await store
      .noteSweep(note, signal)
      .catch((error: unknown) => log.warn(`sweep: could not note the sweep for status: ${printable(messageOf(error), 300)}`));
  }
  log.info(
    `sweep: ${summary.listed} New incident(s) in the window, ${summary.ours} of the configured rules; ` +
      `ran ${ran.length ? ran.join(", ") : "none"}; failed ${summary.failed.length}, skipped ${summary.skipped.length}, deferred ${summary.deferred.length}` +
      (recent.length ? `; ${recent.length} younger than ${Math.round(options.graceMs / 60_000)} minutes left to their webhook` : ""),
  );
  return summary;
}

/** Why the sweeper should run this incident now, or undefined when it should leave it alone. */
export function dueReason(
  incident: IncidentState,
  record: IncidentRecord | undefined,
  options: { maxAttempts: number; dryRun: boolean; includeDryRun: boolean; now: number },
): string | undefined {
  if (!record) return "no run recorded (its webhook never arrived)";
  if (record.lease && leaseHolds(record.lease, options.now)) return undefined; // another run is on it
  // The attempt limit applies in every state, a recorded wave included.
  if (record.failures >= options.maxAttempts) return undefined;
  if (record.dryRun && !options.dryRun) {
    // A dry run by hand changes nothing an enforcing run will do: the incident was never handled.
    if (record.byHand) return "only a dry run by hand was recorded";
    return options.includeDryRun ? "handled in dry run; now enforcing (--include-dry-run)" : undefined;
  }
  const changed = incident.lastModifiedTimeUtc !== undefined && incident.lastModifiedTimeUtc.getTime() > record.updatedAt + CHANGE_SLACK_MS;
  switch (record.outcome) {
    case "reprocess-requested":
    case "awaiting-delivery":
      return "reprocess requested earlier; checking delivery";
    case "capped":
      return "waited for the hourly cap";
    case "new":
      return "an earlier run stopped before it reached a decision";
    case "failed":
      return record.dryRun
        ? changed
          ? "changed since the app's last run"
          : undefined
        : `attempt ${record.failures + 1} of ${options.maxAttempts}`;
    default:
      return changed ? "changed since the app's last run" : undefined;
  }
}
