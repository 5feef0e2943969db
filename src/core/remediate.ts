import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { sameName as same, type WorkspaceRef } from "../config";
import { WEBHOOK_DEADLINE_MS, type Deps, type Logger } from "../deps";
import { AppError, LimitError, messageOf, RequestError, UpstreamError } from "../errors";
import type { Assignment, Grants } from "../graph";
import type { IncidentPointer } from "../incident";
import { LeaseLost, pairKey, type Stored } from "../store";
import type { AssignmentRef, Decision, FailedAssignment, Pair, PairNote, Wave } from "./domain";
import {
  AUTO_LABEL,
  checkCap,
  checkChanged,
  checkRecord,
  checkRepeats,
  checkScope,
  checkUsers,
  holds,
  SCOPE_GUARDS,
  usersCleared,
} from "./guards";
import { planReprocess, type Plan } from "./plan";
import { Busy, factsOf, recordWave, type Facts, type Run } from "./run";
import { recordFailure, settle } from "./settle";
import { headline, type RemediationSummary } from "./report";
import { pairsOf, readSnapshot } from "./snapshot";

/**
 * Independent Graph calls in flight at once for one incident: up to 20 assignments are
 * reprocessed in one wave. The Graph gateway caps the whole instance's requests on top of this.
 */
export const GRAPH_CONCURRENCY = 20;

/**
 * Steps of the close when the incident keeps changing between the re-read and the close: a
 * change takes one snapshot to see and one to confirm, so this allows three changes.
 */
const CLOSE_ATTEMPTS = 6;
const DAY_MS = 24 * 3_600_000;
/** How long recording a failure may take once the run's own deadline has passed. */
const FAILURE_RECORD_MS = 5_000;

export interface RunOptions {
  dryRun?: boolean;
  /** How long to poll Graph for the restored membership before leaving the incident waiting. */
  verifyWithinMs?: number;
  /** How long the run holds the incident's lease: at least the caller's deadline. */
  leaseMs?: number;
  /** The Functions invocation (or CLI run) id, which a failure's comment names: the detail is in its log. */
  invocationId?: string;
}

/**
 * The whole remediation for one incident pointer, as one state machine (docs/safety.md):
 *
 *   snapshot + claim → incident checks → (wave recorded? verify it) → user checks → plan
 *        → cap ‖ new snapshot, checks again → record the wave → reprocess
 *        → verify ‖ new snapshot, checks again → close (that snapshot's etag) → report
 *
 * Every call carries `signal`, the invocation's deadline. Every decision takes one snapshot
 * (src/core/snapshot.ts), and every change is preceded by a whole new snapshot and every check on
 * it: before the wave and before the close, which carries that snapshot's etag (any change since
 * answers conflict: a new snapshot, decide again). The record in the state table says where the
 * incident stands, so a retry, the sweeper or another instance resumes from there and never
 * repeats a wave.
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
  // The app's own record is read alongside the snapshot (a read of its own table, nothing else).
  const [snap, stored] = await Promise.all([readSnapshot(pointer.incidentId, deps, signal), deps.store.read(pointer.incidentId, signal)]);
  if (snap.incident.status === "Closed") {
    log.info(`incident ${snap.incident.name}: already closed, nothing to do`);
    return { ...factsOf(snap, dryRun), outcome: "already-closed", message: headline("already-closed"), closed: true };
  }
  const run: Run = {
    deps,
    log,
    signal,
    dryRun,
    dryRunByHand: dryRun && !deps.config.dryRun,
    verifyWithinMs: options.verifyWithinMs ?? deps.config.limits.deliveryCheckMs,
    invocationId: options.invocationId ?? randomUUID(),
    snap,
    record: stored.record,
    etag: stored.etag,
    claimed: Promise.resolve(),
  };
  run.claimed = claim(run, stored, options.leaseMs ?? WEBHOOK_DEADLINE_MS + 30_000);
  run.claimed.catch(() => undefined); // awaited before the first change; reads go on meanwhile
  try {
    return await decide(run);
  } catch (error) {
    if (error instanceof Busy || error instanceof LeaseLost) return busy(run);
    const reason: unknown = signal.aborted ? signal.reason : error;
    if (reason instanceof AppError && !(reason instanceof RequestError)) {
      // Past the deadline, the record still says how far the run got: one short write with its own bound.
      await recordFailure(run, reason, signal.aborted ? AbortSignal.timeout(FAILURE_RECORD_MS) : signal);
    }
    throw error;
  }
}

/** Takes the incident's lease; the etag it returns guards every later write of this run. */
async function claim(run: Run, stored: Stored, leaseMs: number): Promise<void> {
  const { deps, signal } = run;
  const lease = { owner: randomUUID(), until: deps.now() + leaseMs };
  const etag = await deps.store.claim(run.snap.incident.name, { stored, lease, now: deps.now() }, signal);
  if (etag === undefined) throw new Busy();
  run.etag = etag;
  run.lease = lease;
}

function busy(run: Run): RemediationSummary {
  run.log.info(`incident ${run.snap.incident.name}: another run is working on it; nothing done`);
  return {
    ...factsOf(run.snap, run.dryRun),
    outcome: "in-progress",
    message: headline("in-progress"),
    closed: false,
  };
}

async function decide(run: Run): Promise<RemediationSummary> {
  const { deps, log, snap } = run;
  const { config } = deps;
  const { users } = snap.found;
  log.debug(
    `incident ${snap.incident.name}: ${users.length} user(s), ${snap.found.groups.length} group(s), ${snap.found.apps.length} application(s), ${snap.found.unusableAccounts.length} account(s) without an Entra id`,
  );
  const scope = checkScope(snap, deps);
  const base = { ...factsOf(snap, run.dryRun), decisions: scope };
  const damaged = run.record?.damaged;
  if (damaged) return settle(run, "held", { ...base, decisions: [...scope, checkRecord(damaged.reason)] });
  if (holds(scope).length > 0 && !run.dryRun) return settle(run, "held", base);
  if (users.length === 0) return settle(run, "no-account", base);

  // A wave was recorded earlier: only verify it (never a second wave).
  const wave = run.record?.wave;
  if (wave && !run.dryRun) return verifyWave(run, wave, { ...base, decisions: [...scope, ...checkChanged(snap, wavePairs(wave), config)] });

  // The user checks, the assignment lists and the restore history (reads only) run in parallel.
  const pairs = pairsOf(snap, config);
  const [userChecks, listed, history] = await Promise.all([
    checkUsers(users, deps, run.signal),
    listAssignments(run, holds(scope).length > 0 ? [] : users.map((u) => u.objectId)).catch((error: unknown) => error as Error),
    deps.store.restoresOf(pairs, deps.now() - DAY_MS, run.signal),
  ]);
  const decisions = [...scope, ...userChecks, ...checkRepeats(pairs, history, config.limits.repeatRestoreLimit)];
  if (listed instanceof LimitError) return settle(run, "held", { ...base, decisions }, listed.message);
  if (listed instanceof Error) throw listed;
  const cleared = new Set(usersCleared(users, decisions).map((u) => u.objectId));
  const { plan, covered, left } = await planFor(
    run,
    listed.filter((l) => cleared.has(l.userId)),
    pairs,
    decisions,
  );
  const planFacts: Facts = { ...base, decisions, skipped: plan.skipped, needsAttention: plan.attention, notRestored: left };
  log.debug(
    `incident ${snap.incident.name}: ${plan.reprocess.length} to reprocess, ${plan.skipped.length} skipped, ${holds(decisions).length} hold(s)`,
  );

  if (run.dryRun) return settle(run, "dry-run", { ...planFacts, wouldReprocess: plan.reprocess });
  const limit = config.limits.maxReprocessPerIncident;
  if (plan.reprocess.length > limit) {
    return settle(
      run,
      "held",
      planFacts,
      `${plan.reprocess.length} assignments would be reprocessed, more than MAX_REPROCESS_PER_INCIDENT (${limit}); nothing was reprocessed`,
    );
  }
  if (plan.reprocess.length === 0) {
    return holds(decisions).length > 0 ? settle(run, "held", planFacts) : settle(run, "nothing-to-reprocess", planFacts);
  }
  return requestWave(run, { plan, covered, left, facts: planFacts });
}

/** Every pair a wave knows of: those it restores and those it left, with why. */
const wavePairs = (wave: Pick<Wave, "pairs" | "left">): Pair[] => [...wave.pairs, ...(wave.left ?? [])];

/**
 * Reads a whole new snapshot; the run works from it (and closes with its etag) from now on.
 * Returns the checks every change re-runs, on it: the incident-wide ones and whether it names
 * pairs that `planned` does not.
 */
async function recheck(run: Run, planned: Pair[]): Promise<Decision[]> {
  run.previousEtag = run.snap.incident.etag;
  run.snap = await readSnapshot(run.snap.incident.name, run.deps, run.signal);
  return [...checkScope(run.snap, run.deps), ...checkChanged(run.snap, planned, run.deps.config)];
}

/** Decisions with the incident-wide ones replaced by those of a newer snapshot. */
const withScope = (decisions: Decision[], scope: Decision[]): Decision[] => [
  ...scope,
  ...decisions.filter((d) => !SCOPE_GUARDS.has(d.guard)),
];

/** What a package grants of one kind of pair. */
function granted(g: Grants, kind: Pair["kind"]): string[] {
  return kind === "group" ? g.groups : kind === "owner" ? g.owners : g.apps;
}

/** Step: list each user's access package assignments (within the bounds). */
function listAssignments(run: Run, userIds: string[]): Promise<{ userId: string; assignments: Assignment[] }[]> {
  return Promise.all(userIds.map(async (userId) => ({ userId, assignments: await run.deps.graph.listAssignments(userId, run.signal) })));
}

/**
 * Step: for the cleared users, learn what their packages grant, choose what to reprocess, and
 * sort the incident's pairs into those the wave covers and those it cannot restore (with why).
 */
async function planFor(
  run: Run,
  perUser: { userId: string; assignments: Assignment[] }[],
  pairs: Pair[],
  decisions: Decision[],
): Promise<{ plan: Plan; covered: Pair[]; left: PairNote[] }> {
  const packageIds = [...new Set(perUser.flatMap((u) => u.assignments.map((a) => a.accessPackageId)))];
  const grants = new Map<string, Grants>();
  for (let i = 0; i < packageIds.length; i += GRAPH_CONCURRENCY) {
    const batch = packageIds.slice(i, i + GRAPH_CONCURRENCY);
    const answers = await Promise.all(batch.map((id) => run.deps.graph.grantsOf(id, run.signal)));
    batch.forEach((id, n) => grants.set(id, answers[n] ?? { groups: [], owners: [], apps: [] }));
  }
  const lost = (kind: Pair["kind"]) => [...new Set(pairs.filter((p) => p.kind === kind).map((p) => p.targetId))];
  const plan = planReprocess(perUser, { groups: lost("group"), owners: lost("owner"), apps: lost("app") }, grants);
  const grantsPair = (a: AssignmentRef, p: Pair) => {
    const g = grants.get(a.accessPackageId);
    return a.userId === p.userId && g !== undefined && granted(g, p.kind).includes(p.targetId);
  };
  // The hold's reason is listed once, under the holds; the pair names only which check it was.
  const heldBy = (userId: string) => holds(decisions).find((d) => d.userId === userId)?.guard;
  const covered: Pair[] = [];
  const left: PairNote[] = [];
  for (const p of pairs) {
    const held = heldBy(p.userId);
    if (held) left.push({ ...p, reason: `held by the ${held} check (see the holds)` });
    else if (plan.reprocess.some((a) => grantsPair(a, p))) covered.push(p);
    else {
      const skipped = plan.skipped.find((a) => grantsPair(a, p));
      left.push({
        ...p,
        reason: skipped ? `its assignment was not reprocessed: ${skipped.reason}` : "no access package assignment of the user grants it",
      });
    }
  }
  return { plan, covered, left };
}

/**
 * Steps: reserve the hourly cap while a new snapshot is read, and re-run every check on it;
 * record the wave (before the first call, so no retry repeats it); reprocess; verify.
 */
async function requestWave(
  run: Run,
  planned: { plan: Plan; covered: Pair[]; left: PairNote[]; facts: Facts },
): Promise<RemediationSummary> {
  const { deps, signal } = run;
  const { plan, covered, left } = planned;
  await run.claimed;
  const restoring = new Set(plan.reprocess.map((a) => a.userId)).size;
  const cap = deps.config.limits.maxUsersRestoredPerHour;
  const [reservation, scope] = await Promise.all([
    deps.store.reserveRestores(restoring, cap, deps.now(), signal),
    recheck(run, [...covered, ...left]),
  ]);
  const decisions = withScope(planned.facts.decisions, scope);
  if (holds(scope).length > 0) {
    await deps.store.releaseRestores(reservation, restoring, signal).catch(() => undefined);
    if (run.snap.incident.status === "Closed") return settle(run, "closed-by-other", { ...planned.facts, decisions });
    return settle(run, "held", { ...planned.facts, decisions }, "The incident changed before anything was reprocessed.");
  }
  if (!reservation.granted) return settle(run, "capped", { ...planned.facts, decisions: [...decisions, checkCap(reservation, cap)] });

  const wave: Wave = { requestedAt: deps.now(), assignments: plan.reprocess, pairs: covered, left };
  await Promise.all([recordWave(run, wave), deps.store.noteRestores(covered, deps.now(), signal)]);
  const done = await reprocessAll(run, plan.reprocess);
  const requested: Wave = { ...wave, failed: asRecorded(done.failed) };
  const known: Facts = { ...planned.facts, decisions, reprocessed: done.reprocessed, skipped: [...plan.skipped, ...done.gone] };
  if (done.failed.length > 0) {
    await recordWave(run, requested);
    return settle(
      run,
      "failed",
      { ...known, failed: done.failed },
      `${done.failed.length} reprocess call(s) failed; the app requests those again on its next attempt`,
    );
  }
  return verify(run, requested, known, false);
}

/**
 * A later run on a recorded wave: request again only the calls that failed (after their users
 * pass their checks again), then verify.
 */
async function verifyWave(run: Run, wave: Wave, base: Facts): Promise<RemediationSummary> {
  const failedIds = new Set((wave.failed ?? []).map((call) => call.assignmentId));
  let current = wave;
  let failed: FailedAssignment[] = [];
  if (failedIds.size > 0) {
    const retry = wave.assignments.filter((a) => failedIds.has(a.assignmentId));
    const retryUsers = run.snap.found.users.filter((u) => retry.some((a) => a.userId === u.objectId));
    const [userChecks, scope] = await Promise.all([
      checkUsers(retryUsers, run.deps, run.signal),
      recheck(run, wavePairs(wave)),
      run.claimed,
    ]);
    if (run.snap.incident.status === "Closed") return settle(run, "closed-by-other", { ...base, notRestored: wave.left ?? [] });
    if (holds(scope).length > 0 || holds(userChecks).length > 0) {
      const message =
        "A reprocess call failed earlier, and the incident or the user no longer passes the checks, so it is not requested again.";
      const decisions = withScope([...base.decisions, ...userChecks], scope);
      return settle(run, "held", { ...base, decisions, notRestored: wave.left ?? [] }, message);
    }
    // Recorded as requested again before the calls: if what they answer cannot be recorded, no
    // later run requests them a third time (an accepted reprocess is never repeated).
    await recordWave(run, { ...wave, failed: [] });
    const retried = await reprocessAll(run, retry);
    current = { ...wave, failed: asRecorded(retried.failed) };
    failed = retried.failed;
    await recordWave(run, current);
  }
  const reprocessed = wave.assignments.filter((a) => !current.failed?.some((call) => call.assignmentId === a.assignmentId));
  const known: Facts = { ...base, reprocessed, failed, notRestored: wave.left ?? [] };
  if (failed.length > 0) return settle(run, "failed", known, `${failed.length} reprocess call(s) failed again`);
  return verify(run, current, known, true);
}

/**
 * Step: poll Graph until every covered group pair shows as a direct membership again (application
 * roles cannot be verified) while a new snapshot is read and checked, re-checking the users when
 * an earlier run requested the wave. Closes only when every pair the incident names is restored
 * and verified and the new snapshot passes every check.
 */
async function verify(run: Run, wave: Wave, known: Facts, recheckUsers: boolean): Promise<RemediationSummary> {
  const { deps } = run;
  const [seen, userChecks, scope] = await Promise.all([
    waitForDelivery(
      run,
      wave.pairs.filter((p) => p.kind !== "app"),
    ),
    recheckUsers ? checkUsers(run.snap.found.users, deps, run.signal) : Promise.resolve([]),
    recheck(run, wavePairs(wave)),
  ]);
  const decisions = withScope([...known.decisions, ...userChecks], scope);
  const since = new Date(wave.requestedAt).toISOString();
  const restored = wave.pairs.filter((p) => seen.has(pairKey(p)));
  const unverifiable: PairNote[] = wave.pairs
    .filter((p) => p.kind === "app")
    .map((p) => ({
      ...p,
      reason: "application role reprocessed; the app cannot verify application roles, check the user's role assignment",
    }));
  const pending = wave.pairs.filter((p) => p.kind !== "app" && !seen.has(pairKey(p)));
  const notRestored = [...(wave.left ?? []), ...unverifiable];
  const verified: Facts = {
    ...known,
    decisions,
    restored,
    notRestored: [...notRestored, ...pending.map((p) => ({ ...p, reason: "not delivered yet" }))],
  };
  if (run.snap.incident.status === "Closed") return settle(run, "closed-by-other", verified);
  if (holds(scope).length > 0) {
    return settle(run, "held", verified, `Reprocess was requested at ${since}; the incident changed since, so it is not closed.`);
  }
  if (holds(userChecks).length > 0) {
    return settle(
      run,
      "held",
      verified,
      `Reprocess was requested at ${since}, but the user no longer passes the checks, so the incident is not closed.`,
    );
  }
  if (pending.length > 0) {
    if (deps.now() - wave.requestedAt > deps.config.limits.deliveryTimeoutMs) {
      return settle(
        run,
        "delivery-not-seen",
        verified,
        `Reprocess was requested at ${since}; ${pending.length} group membership(s) or ownership(s) still do not show.`,
      );
    }
    return settle(
      run,
      "awaiting-delivery",
      verified,
      `Reprocess was requested at ${since}; waiting for Entra ID to deliver ${pending.length} group membership(s) or ownership(s).`,
    );
  }
  if (holds(decisions).length > 0) return settle(run, "held", verified, "What the app planned is restored; the incident stays open.");
  if (notRestored.length > 0) return settle(run, "partly-restored", verified);
  return close(run, verified, wave);
}

/** Failed calls as the wave records them: which assignment, and why. */
const asRecorded = (failed: FailedAssignment[]): Wave["failed"] => failed.map(({ assignmentId, error }) => ({ assignmentId, error }));

/** Step: reprocess each planned assignment, GRAPH_CONCURRENCY at a time. */
async function reprocessAll(run: Run, planned: AssignmentRef[]) {
  const reprocessed: AssignmentRef[] = [];
  const failed: FailedAssignment[] = [];
  const gone: RemediationSummary["skipped"] = [];
  for (let i = 0; i < planned.length; i += GRAPH_CONCURRENCY) {
    const batch = planned.slice(i, i + GRAPH_CONCURRENCY);
    const results = await Promise.allSettled(batch.map((a) => run.deps.graph.reprocess(a.assignmentId, run.signal)));
    run.signal.throwIfAborted();
    results.forEach((r, n) => {
      const a = batch[n] as AssignmentRef;
      if (r.status === "rejected") failed.push({ ...a, error: messageOf(r.reason) });
      else if (r.value === "notFound") gone.push({ ...a, reason: "assignment no longer exists (Graph answered 404 to reprocess)" });
      else reprocessed.push(a);
    });
  }
  run.log.debug(`incident ${run.snap.incident.name}: reprocessed ${reprocessed.length}, failed ${failed.length}`);
  return { reprocessed, failed, gone };
}

/**
 * Poll Graph until every group pair is a direct membership (or an ownership) again, with a
 * growing wait, for at most `verifyWithinMs`. Returns the keys of the pairs seen.
 */
async function waitForDelivery(run: Run, pairs: Pair[]): Promise<Set<string>> {
  const { deps, signal } = run;
  const seen = new Set<string>();
  const until = deps.now() + run.verifyWithinMs;
  for (let round = 0, wait = 1000; round < 20; round++, wait = Math.min(wait * 2, 8000)) {
    const waiting = new Map<string, { userId: string; kind: "group" | "owner"; groupIds: string[] }>();
    for (const p of pairs.filter((x) => !seen.has(pairKey(x)))) {
      const key = `${p.userId}_${p.kind}`;
      const entry = waiting.get(key) ?? { userId: p.userId, kind: p.kind === "owner" ? "owner" : "group", groupIds: [] };
      entry.groupIds.push(p.targetId);
      waiting.set(key, entry);
    }
    const answers = await Promise.all(
      [...waiting.values()].map(async ({ userId, kind, groupIds }) => ({
        userId,
        kind,
        groups: await (kind === "owner"
          ? deps.graph.ownedGroups(userId, groupIds, signal)
          : deps.graph.directGroups(userId, groupIds, signal)),
      })),
    );
    for (const { userId, kind, groups } of answers) for (const g of groups) seen.add(pairKey({ userId, kind, targetId: g }));
    if (pairs.every((p) => seen.has(pairKey(p)))) break;
    if (deps.now() + wait > until) break;
    await sleep(wait, undefined, { signal });
  }
  return seen;
}

/**
 * Step: close with the etag of the snapshot whose checks passed, once that snapshot is confirmed
 * (the one before it had the same etag: see Run.previousEtag). A conflict, or a snapshot not yet
 * confirmed, means the incident changed: a new snapshot, every check again (closed by someone
 * else, an analyst on it, a hold label, a merged alert), and close only if all still pass.
 */
async function close(run: Run, known: Facts, wave: Wave): Promise<RemediationSummary> {
  const { deps, signal } = run;
  for (let attempt = 1; attempt <= CLOSE_ATTEMPTS; attempt++) {
    await run.claimed;
    const confirmed = run.previousEtag === run.snap.incident.etag;
    const result = !confirmed
      ? "conflict"
      : await deps.sentinel.closeIncident(
          run.snap.incident,
          {
            classificationComment: `Access restored automatically: ${known.reprocessed.length || "earlier"} reprocessed access package assignment(s), every membership verified; see the comment.`,
            label: AUTO_LABEL,
          },
          signal,
        );
    if (result === "closed") {
      run.log.debug(`incident ${run.snap.incident.name}: closed as BenignPositive`);
      return settle(run, "remediated", known);
    }
    const scope = await recheck(run, wavePairs(wave));
    if (run.snap.incident.status === "Closed") return settle(run, "closed-by-other", known);
    if (holds(scope).length > 0) {
      return settle(
        run,
        "held",
        { ...known, decisions: withScope(known.decisions, scope) },
        "Access was restored, but the incident changed meanwhile, so it was not closed.",
      );
    }
  }
  throw new UpstreamError(
    "sentinel",
    409,
    `Sentinel could not close incident ${run.snap.incident.name}: it changed under ${CLOSE_ATTEMPTS} attempts`,
  );
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
