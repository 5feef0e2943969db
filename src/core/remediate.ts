import { setTimeout as sleep } from "node:timers/promises";
import { sameName as same, type WorkspaceRef } from "../config";
import type { Deps, Logger } from "../deps";
import { AppError, DeadlineError, LimitError, messageOf, printable, RequestError } from "../errors";
import type { Assignment, Grants } from "../graph";
import type { IncidentPointer } from "../incident";
import type { IncidentEntity, IncidentState } from "../sentinel";
import type { IncidentRecord } from "../store";
import { extractEntities, type UserRef } from "./entities";
import { AUTO_LABEL, checkIncident, checkUserCount, checkUsers, holds, usersCleared } from "./guards";
import { planReprocess, type AssignmentRef, type Plan } from "./plan";
import { headline, renderComment, stableId, type Decision, type FailedAssignment, type Outcome, type RemediationSummary } from "./report";

/**
 * Independent Graph calls in flight at once for one incident: up to 20 assignments are
 * reprocessed in one wave. The Graph gateway caps the whole instance's requests on top of this.
 */
export const GRAPH_CONCURRENCY = 20;

export interface RunOptions {
  dryRun?: boolean;
  /** How long to poll Graph for the restored membership before leaving the incident waiting. */
  verifyWithinMs?: number;
}

/** What a user should be a member of again once Entra ID delivers. */
type Target = NonNullable<IncidentRecord["verify"]>[number];

/** An earlier wave whose delivery is awaited. */
type Waiting = Pick<IncidentRecord, "verify"> & { waitingSince: number };

type Report = (outcome: Outcome, f: Facts, message?: string, waiting?: Waiting) => Promise<RemediationSummary>;

/** What the steps learn, passed along: each step returns the facts it adds. */
type Facts = Omit<RemediationSummary, "outcome" | "message" | "closed" | "commentId">;

/**
 * The whole remediation for one incident pointer, top to bottom:
 *
 *   read → incident checks → users → (waiting? verify) → user checks → plan → cap → reprocess → verify → report
 *
 * Every call carries `signal`, the invocation's deadline: when it aborts, the call in flight is
 * abandoned and nothing after it runs. Throws RequestError for pointers it refuses (nothing read
 * or changed), UpstreamError/LimitError when Graph, Sentinel or a bound stop it (the incident gets
 * a comment saying so) and DeadlineError. Every decision is in the returned summary.
 */
export async function remediateIncident(
  pointer: IncidentPointer,
  deps: Deps,
  log: Logger,
  signal: AbortSignal,
  options: RunOptions = {},
): Promise<RemediationSummary> {
  assertSameWorkspace(pointer.workspace, deps.config.workspace);
  const dryRun = options.dryRun ?? deps.config.dryRun;
  // The app's own record of the incident is read alongside (a read of its own table, nothing else).
  const [{ incident, entities }, record] = await Promise.all([
    readIncident(pointer.incidentId, deps, signal),
    deps.store.getIncident(pointer.incidentId, signal),
  ]);
  if (incident.status === "Closed") {
    log.info(`incident ${incident.name}: already closed, nothing to do`);
    return { ...facts(incident, dryRun), outcome: "already-closed", message: headline("already-closed"), closed: true };
  }
  try {
    return await decideAndAct(incident, entities, record, deps, log, signal, { dryRun, verifyWithinMs: options.verifyWithinMs ?? deps.config.limits.deliveryCheckMs });
  } catch (error) {
    if (error instanceof AppError && !(error instanceof DeadlineError) && !(error instanceof RequestError) && !signal.aborted) {
      await recordFailure(incident, record, error, deps, log, signal);
    }
    throw error;
  }
}

async function decideAndAct(
  incident: IncidentState,
  entities: IncidentEntity[],
  record: IncidentRecord | undefined,
  deps: Deps,
  log: Logger,
  signal: AbortSignal,
  options: Required<RunOptions>,
): Promise<RemediationSummary> {
  const { config } = deps;
  const { users, groups, apps, unusableAccounts } = extractEntities(entities);
  const base: Facts = { ...facts(incident, options.dryRun), users, groups, applications: apps };
  log.info(`incident ${incident.name}: ${users.length} user(s), ${groups.length} group(s), ${apps.length} application(s), ${unusableAccounts.length} account(s) without an Entra id`);
  const report: Report = (outcome, f, message, waiting) => finish(incident, record, f, outcome, message, waiting, deps, log, signal);

  // Incident-wide checks, then the users it names.
  const scope = [...checkIncident(incident, config), ...(users.length ? [checkUserCount(users, config.limits.maxUsersPerIncident)] : [])];
  if (holds(scope).length > 0 && !options.dryRun) return report("held", { ...base, decisions: scope }, holdMessage(scope));
  if (users.length === 0) return report("no-account", { ...base, decisions: scope });

  // An earlier run requested reprocess: only look for the delivery (never a second wave).
  if (record?.waitingSince !== undefined && !options.dryRun) {
    return verifyEarlierWave({ ...record, waitingSince: record.waitingSince }, { ...base, decisions: scope }, deps, signal, options, report);
  }

  // The incident is verified: the user checks and the assignment lists (reads only) run in parallel.
  const [userChecks, listed] = await Promise.all([
    checkUsers(users, deps, signal),
    listAssignments(holds(scope).length > 0 ? [] : users, deps, signal).catch((error: unknown) => error as Error),
  ]);
  const decisions = [...scope, ...userChecks];
  if (listed instanceof LimitError) return report("held", { ...base, decisions }, listed.message);
  if (listed instanceof Error) throw listed;
  const cleared = new Set(usersCleared(users, decisions).map((u) => u.objectId));
  const planned = await planFor(listed.filter((l) => cleared.has(l.userId)), { groups, apps }, deps, signal);
  const { plan, targets } = planned;
  const planFacts: Facts = { ...base, decisions, skipped: plan.skipped, needsAttention: plan.attention };
  log.info(`incident ${incident.name}: ${plan.reprocess.length} to reprocess, ${plan.skipped.length} skipped, ${holds(decisions).length} hold(s)`);

  if (options.dryRun) return report("dry-run", { ...planFacts, wouldReprocess: plan.reprocess });
  if (plan.reprocess.length > config.limits.maxReprocessPerIncident) {
    return report("held", planFacts, `${plan.reprocess.length} assignments would be reprocessed, more than MAX_REPROCESS_PER_INCIDENT (${config.limits.maxReprocessPerIncident}); nothing was reprocessed`);
  }
  if (plan.reprocess.length === 0) {
    return holds(decisions).length > 0 ? report("held", planFacts, holdMessage(decisions)) : report("nothing-to-reprocess", planFacts);
  }

  // The tenant-wide hourly cap, counted in the shared table before anything changes.
  const restoring = [...new Set(plan.reprocess.map((a) => a.userId))];
  const cap = config.limits.maxUsersRestoredPerHour;
  const reservation = await deps.store.reserveRestores(restoring.length, cap, deps.now(), signal);
  if (!reservation.granted) {
    const capDecision: Decision = { guard: "hourly-cap", result: "hold", reason: `${reservation.used} of ${cap} users already restored this hour` };
    return report("capped", { ...planFacts, decisions: [...decisions, capDecision] });
  }

  // Recorded before the wave: a retry (after a deadline, a playbook retry) verifies instead of reprocessing again.
  const waiting: Waiting = { waitingSince: deps.now(), verify: targets };
  await deps.store.putIncident(incident.name, { ...nextRecord(record, "awaiting-delivery", deps), ...waiting }, signal);
  const wave = await reprocessAll(plan.reprocess, deps, signal);
  const waveFacts: Facts = { ...planFacts, reprocessed: wave.reprocessed, failed: wave.failed, skipped: [...plan.skipped, ...wave.gone] };
  log.info(`incident ${incident.name}: reprocessed ${wave.reprocessed.length}, failed ${wave.failed.length}`);
  if (wave.failed.length > 0) return report("failed", waveFacts, `${wave.failed.length} reprocess call(s) failed; nothing is closed`);

  const delivered = groups.length === 0 ? null : await waitForDelivery(targets.filter((t) => wave.reprocessed.some((a) => a.userId === t.userId)), deps, signal, options.verifyWithinMs);
  const verified: Facts = { ...waveFacts, deliveryVerified: delivered };
  if (holds(decisions).length > 0) return report("held", verified, holdMessage(decisions));
  return delivered === false ? report("awaiting-delivery", verified, undefined, waiting) : report("remediated", verified);
}

/** Step: read the incident and its entities from Sentinel (the body was only a pointer). */
async function readIncident(incidentId: string, deps: Deps, signal: AbortSignal): Promise<{ incident: IncidentState; entities: IncidentEntity[] }> {
  const [incident, entities] = await Promise.all([
    deps.sentinel.getIncident(incidentId, signal),
    deps.sentinel.listEntities(incidentId, signal).catch((error: unknown) => error as Error),
  ]);
  if (!incident) {
    throw new RequestError("IncidentNotFound", `Incident ${incidentId} does not exist in the configured workspace`);
  }
  if (entities instanceof Error) throw entities;
  return { incident, entities };
}

/** Step: list each user's access package assignments (within the bounds). */
function listAssignments(users: UserRef[], deps: Deps, signal: AbortSignal): Promise<{ userId: string; assignments: Assignment[] }[]> {
  return Promise.all(users.map(async (u) => ({ userId: u.objectId, assignments: await deps.graph.listAssignments(u.objectId, signal) })));
}

/** Step: for the cleared users, learn what their packages grant and choose what to reprocess. */
async function planFor(perUser: { userId: string; assignments: Assignment[] }[], lost: Grants, deps: Deps, signal: AbortSignal): Promise<{ plan: Plan; targets: Target[] }> {
  const packageIds = [...new Set(perUser.flatMap((u) => u.assignments.map((a) => a.accessPackageId)))];
  const grants = new Map<string, Grants>();
  if (lost.groups.length + lost.apps.length > 0) {
    for (let i = 0; i < packageIds.length; i += GRAPH_CONCURRENCY) {
      const batch = packageIds.slice(i, i + GRAPH_CONCURRENCY);
      const answers = await Promise.all(batch.map((id) => deps.graph.grantsOf(id, signal)));
      batch.forEach((id, n) => grants.set(id, answers[n] ?? { groups: [], apps: [] }));
    }
  }
  const plan = planReprocess(perUser, lost, grants);
  // Group memberships are verified after reprocess; application roles are not (see verificationNote).
  const targets = [...new Set(plan.reprocess.map((a) => a.userId))].map((userId) => ({
    userId,
    groups: lost.groups.filter((g) => plan.reprocess.some((a) => a.userId === userId && (grants.get(a.accessPackageId)?.groups ?? []).includes(g))),
  }));
  return { plan, targets };
}

/** Step: reprocess each planned assignment, GRAPH_CONCURRENCY at a time. */
async function reprocessAll(planned: AssignmentRef[], deps: Deps, signal: AbortSignal) {
  const reprocessed: AssignmentRef[] = [];
  const failed: FailedAssignment[] = [];
  const gone: RemediationSummary["skipped"] = [];
  for (let i = 0; i < planned.length; i += GRAPH_CONCURRENCY) {
    const batch = planned.slice(i, i + GRAPH_CONCURRENCY);
    const results = await Promise.allSettled(batch.map((a) => deps.graph.reprocess(a.assignmentId, signal)));
    signal.throwIfAborted();
    results.forEach((r, n) => {
      const a = batch[n] as AssignmentRef;
      if (r.status === "rejected") failed.push({ ...a, error: messageOf(r.reason) });
      else if (r.value === "notFound") gone.push({ ...a, reason: "assignment no longer exists (Graph answered 404 to reprocess)" });
      else reprocessed.push(a);
    });
  }
  return { reprocessed, failed, gone };
}

/**
 * Step: poll Graph until every restored user is a member of the lost group(s) again, with a
 * growing wait, for at most `withinMs`. True when seen, false when not yet.
 */
async function waitForDelivery(targets: Target[], deps: Deps, signal: AbortSignal, withinMs: number): Promise<boolean> {
  const checkable = targets.filter((t) => t.groups.length > 0);
  const until = deps.now() + withinMs;
  for (let round = 0, wait = 1000; round < 20; round++, wait = Math.min(wait * 2, 8000)) {
    const members = await Promise.all(checkable.map((t) => deps.graph.memberGroups(t.userId, t.groups, signal)));
    if (checkable.every((t, i) => t.groups.every((g) => members[i]?.includes(g)))) return true;
    if (deps.now() + wait > until) return false;
    await sleep(wait, undefined, { signal });
  }
  return false;
}

/** Step for a later run: reprocess was requested earlier; close once the membership shows, give up after the limit. */
async function verifyEarlierWave(
  record: IncidentRecord & { waitingSince: number },
  f: Facts,
  deps: Deps,
  signal: AbortSignal,
  options: Required<RunOptions>,
  report: Report,
): Promise<RemediationSummary> {
  const since = new Date(record.waitingSince).toISOString();
  const delivered = (record.verify ?? []).length === 0 ? null : await waitForDelivery(record.verify ?? [], deps, signal, options.verifyWithinMs);
  const verified = { ...f, deliveryVerified: delivered };
  if (delivered !== false) return report("remediated", verified, `Reprocess was requested at ${since}; the membership shows now.`);
  if (deps.now() - record.waitingSince > deps.config.limits.deliveryTimeoutMs) {
    return report("delivery-not-seen", verified, `Reprocess was requested at ${since}; the membership still does not show.`);
  }
  return report("awaiting-delivery", verified, `Reprocess was requested at ${since}; still waiting for Entra ID to deliver.`, record);
}

/**
 * Step: report. A remediated incident is closed first (BenignPositive, label auto-remediated);
 * the comment then says what really happened, and the record tells later runs where things stand.
 */
async function finish(
  incident: IncidentState,
  record: IncidentRecord | undefined,
  f: Facts,
  outcome: Outcome,
  message: string | undefined,
  waiting: Waiting | undefined,
  deps: Deps,
  log: Logger,
  signal: AbortSignal,
): Promise<RemediationSummary> {
  let final: Outcome = outcome;
  let text = message ?? headline(outcome);
  let closed = false;
  if (outcome === "remediated") {
    const result = await deps.sentinel.closeIncident(
      incident,
      { classificationComment: `Access restored automatically: ${f.reprocessed.length || "earlier"} reprocessed access package assignment(s); see the comment.`, label: AUTO_LABEL },
      signal,
    );
    closed = result !== "changed";
    if (result === "changed") {
      final = "held";
      text = "Access was restored, but the incident changed status meanwhile (an analyst is on it), so it was not closed.";
    }
    log.info(`incident ${incident.name}: ${result === "closed" ? "closed as BenignPositive" : result === "already-closed" ? "was closed meanwhile" : "changed meanwhile, left open"}`);
  }
  const next = nextRecord(record, final, deps);
  if (final === "failed") text = failureMessage(next.failures, deps.config.sweep.maxAttempts, text);
  const summary: RemediationSummary = { ...f, decisions: sortDecisions(f.decisions), outcome: final, message: text, closed };
  // Every hold is in the log too (a dry run logs every check).
  for (const d of summary.decisions.filter((d) => summary.dryRun || d.result === "hold")) {
    log.info(`incident ${incident.name}: ${d.result} [${d.guard}]${d.userId ? ` user ${d.userId}` : ""}: ${printable(d.reason, 300)}`);
  }
  const commentId = stableId(incident.name, final);
  const stillWaiting = final === "awaiting-delivery" ? waitingOf(waiting) : {};
  await Promise.all([
    deps.sentinel.upsertComment(incident.name, commentId, renderComment(summary), signal),
    // A dry run changes nothing, state included: after the switch to enforce the sweeper finds no record and acts.
    summary.dryRun ? undefined : deps.store.putIncident(incident.name, { ...next, ...stillWaiting }, signal),
  ]);
  summary.commentId = commentId;
  log.info(`incident ${incident.name}: ${final}${summary.commentId ? `, comment ${summary.commentId}` : ""}`);
  return summary;
}

/** A run that failed (Graph, Sentinel, a bound): count it, and say so on the incident without claiming anything happened. */
export async function recordFailure(incident: IncidentState, record: IncidentRecord | undefined, error: AppError, deps: Deps, log: Logger, signal: AbortSignal): Promise<void> {
  const next = nextRecord(record, "failed", deps);
  const message = failureMessage(next.failures, deps.config.sweep.maxAttempts, error.message);
  try {
    const summary: RemediationSummary = { ...facts(incident, false), outcome: "failed", message, closed: false };
    await deps.sentinel.upsertComment(incident.name, stableId(incident.name, "failed"), renderComment(summary), signal);
    // Keep an earlier wave's waiting state: the next run must verify, not reprocess again.
    await deps.store.putIncident(incident.name, { ...next, ...waitingOf(record) }, signal);
  } catch (commentError) {
    log.warn(`incident ${incident.name}: could not record the failure: ${messageOf(commentError)}`);
  }
}

function failureMessage(failures: number, max: number, detail: string): string {
  return failures >= max
    ? `Remediation failed ${failures} times; the app has stopped trying and the incident needs an admin. Last error: ${detail}`
    : `Attempt ${failures} of ${max} failed; nothing was closed and the app will try again. ${detail}`;
}

/** The waiting state of an earlier wave, to carry into the next record (empty when none). */
function waitingOf(w: Partial<Waiting> | undefined): Partial<Waiting> {
  return w?.waitingSince !== undefined ? { waitingSince: w.waitingSince, verify: w.verify } : {};
}

/** Dry runs write no record, so every record written is an enforcing run's. */
function nextRecord(record: IncidentRecord | undefined, outcome: Outcome, deps: Deps): IncidentRecord {
  return { outcome, dryRun: false, failures: outcome === "failed" ? (record?.failures ?? 0) + 1 : 0, updatedAt: deps.now() };
}

function facts(incident: IncidentState, dryRun: boolean): Facts {
  return {
    incident: {
      id: incident.name,
      ...(incident.incidentNumber !== undefined ? { number: incident.incidentNumber } : {}),
      title: incident.title,
      ...(incident.incidentUrl ? { url: incident.incidentUrl } : {}),
    },
    dryRun,
    users: [],
    groups: [],
    applications: [],
    decisions: [],
    reprocessed: [],
    wouldReprocess: [],
    skipped: [],
    failed: [],
    needsAttention: [],
    deliveryVerified: null,
  };
}

const sortDecisions = (d: Decision[]) => [...holds(d), ...d.filter((x) => x.result === "pass")];

function holdMessage(decisions: Decision[]): string {
  const h = holds(decisions);
  return `Held: ${h.map((d) => d.reason).join("; ")}.`;
}

function assertSameWorkspace(sent: WorkspaceRef, configured: WorkspaceRef): void {
  if (
    !same(sent.subscriptionId, configured.subscriptionId) ||
    !same(sent.resourceGroup, configured.resourceGroup) ||
    !same(sent.name, configured.name)
  ) {
    // Neither workspace is echoed: the caller learns only that it is not the configured one.
    throw new RequestError("WorkspaceMismatch", "The incident belongs to another workspace than the one this app is configured for");
  }
}
