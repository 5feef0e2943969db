import { messageOf, printable, type AppError } from "../errors";
import { LeaseLost, type IncidentRecord, type Settled } from "../store";
import { decisionLine, decisionRecord } from "./decisionRecord";
import { holds } from "./guards";
import { headline, holdMessage, renderComment, stableId, type RemediationSummary } from "./report";
import type { Decision } from "./domain";
import { baseRecord, Busy, factsOf, save, type Facts, type Run } from "./run";

/**
 * Step: report. Writes the record of the state reached (lease released) and, when the state or
 * its reason changed, one new comment that supersedes the earlier ones. The record goes first,
 * marked `unsaid` and still leased until the comment is written: a run that lost its lease finds out there and
 * writes no comment (another run owns the incident and its comment numbers), and a run that stops
 * between the two leaves a record the next run finishes. Once the incident is closed, a failing
 * comment or record is logged and does not undo the outcome.
 */
export async function settle(run: Run, outcome: Settled, known: Facts, message?: string): Promise<RemediationSummary> {
  const { deps, log, signal } = run;
  const { incident } = run.snap;
  await run.claimed;
  // A damaged record counts every run as an attempt, so the sweeper stops at SWEEP_MAX_ATTEMPTS.
  const failures = outcome === "failed" || run.record?.damaged ? failureCount(run) : run.dryRun ? (run.record?.failures ?? 0) : 0;
  const failure = outcome === "failed" ? failureLine(run, failures) : "";
  const text =
    outcome === "failed"
      ? `${failure} ${message ?? ""}`.trim()
      : outcome === "held" && holds(known.decisions).length > 0
        ? [holdMessage(known.decisions), message].filter(Boolean).join(" ")
        : (message ?? headline(outcome));
  const closed = outcome === "remediated";
  const previous = run.record;
  const changed = previous?.unsaid === true || previous?.outcome !== outcome || previous.reason !== text || previous.dryRun !== run.dryRun;
  // A comment recorded but never written keeps its number: the next one takes its place.
  const update = previous?.unsaid ? previous.comments : (previous?.comments ?? 0) + (changed ? 1 : 0);
  const summary: RemediationSummary = { ...known, decisions: sortDecisions(known.decisions), outcome, message: text, closed, update };
  // Every hold is in the debug log too (a dry run logs every check); the decision record has them all.
  for (const d of summary.decisions.filter((d) => summary.dryRun || d.result === "hold")) {
    log.debug(`incident ${incident.name}: ${d.result} [${d.guard}]${d.userId ? ` user ${d.userId}` : ""}: ${printable(d.reason, 300)}`);
  }
  const record = { ...baseRecord(run), outcome, failures, comments: update, reason: text };
  // A lost lease throws here (the run answers in-progress): another run owns the incident now.
  // It keeps the lease until the comment has landed, so no other run takes the incident (and
  // the comment's number) over in between.
  const first = changed ? { ...record, unsaid: true, ...(run.lease ? { lease: run.lease } : {}) } : record;
  const recorded = await recordState(run, first);
  if (changed) {
    const commentId = stableId(incident.name, "update", String(update));
    try {
      await deps.sentinel.upsertComment(incident.name, commentId, renderComment(shownOnIncident(run, summary, failure)), signal);
      summary.commentId = commentId;
    } catch (error) {
      // Closed is closed; and a failure is still counted when it cannot be said on the incident.
      if (!closed && outcome !== "failed") throw error;
      log.warn(`incident ${incident.name}: ${outcome}, but the comment could not be written: ${printable(messageOf(error), 300)}`);
    }
    // The lease is released; a comment that did not land stays unsaid for the next run.
    const last = summary.commentId ? record : { ...record, unsaid: true };
    if (recorded === "saved") await recordState(run, last).catch((error: unknown) => leaseLostAfterComment(run, error));
  }
  log.info(`incident ${incident.name}: ${outcome}${summary.commentId ? `, comment ${summary.commentId}` : ""}`);
  log.info(decisionLine(decisionRecord(summary, deps.now(), run.record?.wave?.requestedAt)));
  return summary;
}

/**
 * Writes the record; LeaseLost when another run wrote since (it owns the incident now). Once the
 * incident is closed, or for a failure being recorded, a record that cannot be written otherwise
 * is logged ("unrecorded") and the comment is still written.
 */
async function recordState(run: Run, record: IncidentRecord): Promise<"saved" | "unrecorded"> {
  try {
    await save(run, record);
    return "saved";
  } catch (error) {
    if (error instanceof LeaseLost || (record.outcome !== "remediated" && record.outcome !== "failed")) throw error;
    run.log.warn(
      `incident ${run.snap.incident.name}: ${record.outcome}, but its state could not be recorded: ${printable(messageOf(error), 300)}`,
    );
    return "unrecorded";
  }
}

/** Another run took the incident over after the comment step: it finds the record marked unsaid and writes the comment again. */
function leaseLostAfterComment(run: Run, error: unknown): void {
  if (!(error instanceof LeaseLost)) throw error;
  run.log.warn(`incident ${run.snap.incident.name}: another run took the incident over before this one finished its record`);
}

/** A failure's comment is one line for the analyst; the error itself stays in the log. */
function shownOnIncident(run: Run, summary: RemediationSummary, failure: string): RemediationSummary {
  if (summary.outcome !== "failed") return summary;
  const where = `The error is in the function's log under invocation ${run.invocationId}.`;
  return { ...summary, message: [failure, run.failureCause, where].filter(Boolean).join(" ") };
}

/** A run that failed (Graph, Sentinel, a bound): count it (enforcing runs only), say so, keep the wave. */
export async function recordFailure(run: Run, error: AppError, signal: AbortSignal): Promise<void> {
  try {
    // The failure is written over the run's own lease, with the etag of that write: a failure that
    // came before the lease write landed waits for it (written from the copy read before, it would
    // conflict and be lost, leaving the lease and an uncounted failure). A claim that never landed
    // leaves the record as read; another run's lease (Busy) is not ours to overwrite.
    const landed = await run.claimed.then(
      () => true,
      (claimError: unknown) => !(claimError instanceof Busy),
    );
    if (!landed) return;
    const known = { ...factsOf(run.snap, run.dryRun), notRestored: run.record?.wave?.left ?? [] };
    const refused = error.code.endsWith("AccessDenied");
    await settle(
      { ...run, signal, claimed: Promise.resolve(), ...(refused ? { failureCause: error.message } : {}) },
      "failed",
      known,
      error.message,
    );
  } catch (writeError) {
    run.log.warn(`incident ${run.snap.incident.name}: could not record the failure: ${messageOf(writeError)}`);
  }
}

/** What a failure means for the incident, from the recorded state (never more than it knows). */
function failureLine(run: Run, failures: number): string {
  const wave = run.record?.wave;
  const state = wave
    ? `Reprocess of ${wave.assignments.length} assignment(s) was requested at ${new Date(wave.requestedAt).toISOString()}; only the calls that failed are requested again, the rest is only checked.`
    : "Nothing was reprocessed.";
  if (run.dryRun) return `Dry run failed (not counted as an attempt). ${state}`;
  const max = run.deps.config.sweep.maxAttempts;
  return failures >= max
    ? `Remediation failed ${failures} times; the app has stopped trying and the incident needs an admin. ${state}`
    : `Attempt ${failures} of ${max} failed; the app tries again. ${state}`;
}

/** Enforcing failures in a row; a dry run's failure is never counted. */
function failureCount(run: Run): number {
  const before = run.record?.failures ?? 0;
  return run.dryRun ? before : before + 1;
}

const sortDecisions = (d: Decision[]) => [...holds(d), ...d.filter((x) => x.result === "pass")];
