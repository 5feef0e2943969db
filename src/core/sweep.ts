import type { Logger, Deps } from "./remediate";
import { remediateIncident } from "./remediate";
import { stableId, type Outcome } from "./report";
import { messageOf } from "../errors";

/** Outcomes that leave an incident open on purpose: the sweeper does not pick those up again. */
const LEFT_OPEN: Outcome[] = ["no-account", "nothing-to-reprocess", "dry-run"];

export interface SweepOptions {
  /** Incidents younger than this are left to their webhook. */
  graceMs: number;
  /** At most this many incidents are remediated per run. */
  maxPerRun: number;
  now?: () => number;
}

export const SWEEP_DEFAULTS: SweepOptions = { graceMs: 10 * 60_000, maxPerRun: 20 };

export interface SweepSummary {
  /** Open incidents older than the grace period, from any rule. */
  candidates: number;
  remediated: string[];
  /** Open on purpose (a comment says why) or from another rule. */
  skipped: string[];
  /** Still not remediated; the next run tries again. */
  failed: string[];
}

/**
 * Finds incidents of the configured rules that are still open after the grace period (their
 * webhook never arrived or failed for good) and runs the same pipeline on them.
 */
export async function sweepOpenIncidents(deps: Deps, log: Logger, options: SweepOptions = SWEEP_DEFAULTS): Promise<SweepSummary> {
  const summary: SweepSummary = { candidates: 0, remediated: [], skipped: [], failed: [] };
  const { config, sentinel } = deps;
  if (config.allowedRuleIds.length === 0) {
    log.warn("sweep skipped: SENTINEL_RULE_IDS is empty, and the sweeper only acts on incidents of listed rules");
    return summary;
  }
  const now = options.now ?? Date.now;
  // Incidents of other rules are filtered here, so read a few pages' worth beyond the bound.
  const open = await sentinel.listOpenIncidents(new Date(now() - options.graceMs), options.maxPerRun * 5);
  summary.candidates = open.length;
  for (const incident of open) {
    if (summary.remediated.length + summary.failed.length >= options.maxPerRun) break;
    if (!incident.ruleIds.some((r) => config.allowedRuleIds.includes(r))) {
      summary.skipped.push(incident.name);
      continue;
    }
    const comments = new Set(await sentinel.listCommentIds(incident.name).catch(() => []));
    if (LEFT_OPEN.some((outcome) => comments.has(stableId(incident.name, outcome)))) {
      summary.skipped.push(incident.name);
      continue;
    }
    try {
      const result = await remediateIncident(
        { incidentId: incident.name, armId: incident.id, workspace: config.workspace },
        deps,
        log,
      );
      (result.outcome === "failed" ? summary.failed : result.closed ? summary.remediated : summary.skipped).push(incident.name);
    } catch (error) {
      log.warn(`sweep: incident ${incident.name} not remediated: ${messageOf(error)}`);
      summary.failed.push(incident.name);
    }
  }
  log.info(
    `sweep: ${summary.candidates} open incident(s) past the grace period; remediated ${summary.remediated.length}, ` +
      `skipped ${summary.skipped.length}, failed ${summary.failed.length}`,
  );
  return summary;
}
