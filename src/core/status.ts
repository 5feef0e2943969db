import type { Deps } from "../deps";
import { printable } from "../errors";
import { leaseHolds, type IncidentRecord } from "../store";

/** Incident records read at most for the view. */
export const STATUS_MAX_RECORDS = 1_000;

export interface StatusEntry {
  incident: string;
  /** The incident's number and title as last seen by a run. */
  number?: number;
  title?: string;
  state: string;
  /** When the state was reached (ISO). */
  since: string;
  reason?: string;
  /** Failed: attempts made and left before "needs an admin". */
  attempts?: { made: number; left: number };
  /** Reprocess requested: when, and how many assignments. */
  wave?: { requestedAt: string; assignments: number };
  /** Another run holds the incident until then (ISO). */
  leasedUntil?: string;
}

export interface StatusView {
  at: string;
  cap: { used: number; limit: number; freesAt?: string; problem?: string };
  lastSweep?: { at: string; listed: number; ran: number; failed: number; recent: number };
  waiting: StatusEntry[];
  capped: StatusEntry[];
  failed: StatusEntry[];
  held: StatusEntry[];
  inProgress: StatusEntry[];
  /** Records read (at most STATUS_MAX_RECORDS); finished incidents are counted, not listed. */
  records: number;
  finished: number;
}

const WAITING = new Set(["reprocess-requested", "awaiting-delivery"]);
const HELD = new Set(["held", "partly-restored", "delivery-not-seen", "nothing-to-reprocess", "no-account"]);

/** What the app is doing now, from its state table: reads only. */
export async function readStatus(deps: Deps, signal: AbortSignal): Promise<StatusView> {
  const now = deps.now();
  const [records, window, sweep] = await Promise.all([
    deps.store.listRecords(STATUS_MAX_RECORDS, signal),
    deps.store.windowUse(now, signal),
    deps.store.lastSweep(signal),
  ]);
  const iso = (ms: number) => new Date(ms).toISOString();
  const max = deps.config.sweep.maxAttempts;
  const entry = (incident: string, r: IncidentRecord): StatusEntry => ({
    incident,
    ...(r.incident?.number !== undefined ? { number: r.incident.number } : {}),
    ...(r.incident?.title !== undefined ? { title: r.incident.title } : {}),
    state: r.dryRun ? `${r.outcome} (dry run)` : r.outcome,
    since: iso(r.updatedAt),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.outcome === "failed" && !r.dryRun ? { attempts: { made: r.failures, left: Math.max(0, max - r.failures) } } : {}),
    ...(r.wave ? { wave: { requestedAt: iso(r.wave.requestedAt), assignments: r.wave.assignments.length } } : {}),
    ...(r.lease && leaseHolds(r.lease, now) ? { leasedUntil: iso(r.lease.until) } : {}),
  });
  const view: StatusView = {
    at: iso(now),
    cap: {
      used: window.used,
      limit: deps.config.limits.maxUsersRestoredPerHour,
      ...(window.oldestLeavesAt ? { freesAt: iso(window.oldestLeavesAt) } : {}),
      ...(window.problem ? { problem: window.problem } : {}),
    },
    ...(sweep ? { lastSweep: { ...sweep, at: iso(sweep.at) } } : {}),
    waiting: [],
    capped: [],
    failed: [],
    held: [],
    inProgress: [],
    records: records.length,
    finished: 0,
  };
  for (const { incidentId, record } of records.sort((a, b) => b.record.updatedAt - a.record.updatedAt)) {
    const e = entry(incidentId, record);
    if (e.leasedUntil) view.inProgress.push(e);
    else if (WAITING.has(record.outcome)) view.waiting.push(e);
    else if (record.outcome === "capped") view.capped.push(e);
    else if (record.outcome === "failed") view.failed.push(e);
    else if (HELD.has(record.outcome) || record.outcome === "dry-run") view.held.push(e);
    else view.finished++;
  }
  return view;
}

/** The view for a terminal. */
export function renderStatus(v: StatusView): string {
  const cap = v.cap.problem
    ? `Hourly cap: ${v.cap.problem}; nothing is restored until it can be read`
    : `Hourly cap: ${v.cap.used} of ${v.cap.limit} users restored in the last 60 minutes${v.cap.freesAt ? `; the oldest leaves the window at ${v.cap.freesAt}` : ""}`;
  const sweep = v.lastSweep
    ? `Last sweep: ${v.lastSweep.at}: ${v.lastSweep.listed} New incident(s) read, ${v.lastSweep.ran} run, ${v.lastSweep.failed} failed, ${v.lastSweep.recent} left to their webhook`
    : "Last sweep: none recorded";
  const name = (e: StatusEntry) =>
    `${e.number !== undefined ? `#${e.number} ` : ""}${e.title !== undefined ? `"${printable(e.title, 80)}" ` : ""}(${e.incident})`;
  const line = (e: StatusEntry) =>
    `  ${name(e)}  ${e.state} since ${e.since}` +
    (e.attempts ? `; attempt ${e.attempts.made}, ${e.attempts.left} left` : "") +
    (e.wave ? `; reprocess of ${e.wave.assignments} assignment(s) requested ${e.wave.requestedAt}` : "") +
    (e.leasedUntil ? `; held by a run until ${e.leasedUntil}` : "") +
    (e.reason ? `\n      ${printable(e.reason, 200)}` : "");
  const section = (title: string, list: StatusEntry[]) =>
    list.length ? [`${title} (${list.length}):`, ...list.map(line)] : [`${title}: none`];
  return [
    `Status at ${v.at}`,
    cap,
    sweep,
    "",
    ...section("Running now", v.inProgress),
    ...section("Waiting for Entra ID to deliver", v.waiting),
    ...section("Waiting for the hourly cap", v.capped),
    ...section("Failed (the sweeper retries until no attempt is left)", v.failed),
    ...section("Held or left open for an analyst", v.held),
    "",
    `${v.finished} finished (closed or handled) of ${v.records} incident record(s) read${v.records >= STATUS_MAX_RECORDS ? ` (the first ${STATUS_MAX_RECORDS})` : ""}.`,
  ].join("\n");
}
