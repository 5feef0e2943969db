import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ruleArmId, sameName as same, type WorkspaceRef } from "../config";
import { WEBHOOK_DEADLINE_MS, type Deps, type Logger } from "../deps";
import { AppError, LimitError, messageOf, printable, RequestError, UpstreamError } from "../errors";
import type { Assignment, Grants } from "../graph";
import type { IncidentPointer } from "../incident";
import type { IncidentEntity, IncidentState } from "../sentinel";
import { LeaseLost, pairKey, type IncidentRecord, type Pair, type Stored, type Wave } from "../store";
import { decisionLine, decisionRecord } from "./decisionRecord";
import { extractEntities, type ExtractedEntities } from "./entities";
import { AUTO_LABEL, checkIncident, checkUserCount, checkUsers, holds, usersCleared } from "./guards";
import { planReprocess, type AssignmentRef, type Plan } from "./plan";
import {
  headline,
  holdMessage,
  renderComment,
  stableId,
  type Decision,
  type FailedAssignment,
  type Outcome,
  type PairNote,
  type RemediationSummary,
} from "./report";

/**
 * Independent Graph calls in flight at once for one incident: up to 20 assignments are
 * reprocessed in one wave. The Graph gateway caps the whole instance's requests on top of this.
 */
export const GRAPH_CONCURRENCY = 20;

/** Close attempts when the incident keeps changing between the re-read and the close. */
const CLOSE_ATTEMPTS = 4;
const DAY_MS = 24 * 3_600_000;
/**
 * An incident read this recently counts as fresh before the wave; an older read (a slow listing,
 * throttling) is read again. The close always carries the etag of the last read, so any change
 * since it, before or after the wave, is seen there.
 */
const FRESH_MS = 2_000;
/** How long recording a failure may take once the run's own deadline has passed. */
const FAILURE_RECORD_MS = 5_000;

export interface RunOptions {
  dryRun?: boolean;
  /** How long to poll Graph for the restored membership before leaving the incident waiting. */
  verifyWithinMs?: number;
  /** How long the run holds the incident's lease: at least the caller's deadline. */
  leaseMs?: number;
}

/** What the steps learn, passed along: each step returns the facts it adds. */
type Facts = Omit<RemediationSummary, "outcome" | "message" | "closed" | "commentId">;

/**
 * One run on one incident: everything the steps share, so that each step takes this one object.
 * `incident`, `record` and `etag` always hold the latest read or write, so every decision and
 * every change works on the same facts.
 */
interface Run {
  deps: Deps;
  log: Logger;
  signal: AbortSignal;
  dryRun: boolean;
  /** A dry run asked for by hand (the CLI) of an enforcing deployment: it must not count as handled. */
  dryRunByHand: boolean;
  verifyWithinMs: number;
  incident: IncidentState;
  /** When `incident` was read (epoch ms). */
  readAt: number;
  found: ExtractedEntities;
  /** The app's record as of the claim, and the etag its next write must match. */
  record: IncidentRecord | undefined;
  etag: string | undefined;
  /** Resolves once the run holds the lease; rejects with Busy when another run does. */
  claimed: Promise<void>;
}

/** Another run holds the incident. */
class Busy extends Error {}

/**
 * The whole remediation for one incident pointer, as one state machine (docs/safety.md):
 *
 *   read → claim → incident checks → users → (wave recorded? verify it) → user checks → plan
 *        → cap + fresh re-read → record the wave → reprocess → verify → close (etag) → report
 *
 * Every call carries `signal`, the invocation's deadline. Every change is preceded by a check on
 * fresh data: the incident is re-read before the wave, the close carries the etag of that read
 * (any change since answers conflict: re-read, decide again), and a later run re-checks the
 * users before it closes. The record in the state table says where the incident stands, so a
 * retry, the sweeper or another instance resumes from there and never repeats a wave.
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
  // The app's own record is read alongside the incident (a read of its own table, nothing else).
  const [{ incident, entities }, stored] = await Promise.all([
    readIncident(pointer.incidentId, deps, signal),
    deps.store.read(pointer.incidentId, signal),
  ]);
  const found = extractEntities(entities);
  if (incident.status === "Closed") {
    log.info(`incident ${incident.name}: already closed, nothing to do`);
    return { ...facts(incident, found, dryRun), outcome: "already-closed", message: headline("already-closed"), closed: true };
  }
  const run: Run = {
    deps,
    log,
    signal,
    dryRun,
    dryRunByHand: dryRun && !deps.config.dryRun,
    verifyWithinMs: options.verifyWithinMs ?? deps.config.limits.deliveryCheckMs,
    incident,
    readAt: deps.now(),
    found,
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
  const etag = await deps.store.claim(run.incident.name, stored, randomUUID(), deps.now() + leaseMs, deps.now(), signal);
  if (etag === undefined) throw new Busy();
  run.etag = etag;
}

function busy(run: Run): RemediationSummary {
  run.log.info(`incident ${run.incident.name}: another run is working on it; nothing done`);
  return {
    ...facts(run.incident, run.found, run.dryRun),
    outcome: "in-progress",
    message: headline("in-progress"),
    closed: false,
  };
}

async function decide(run: Run): Promise<RemediationSummary> {
  const { deps, log, found } = run;
  const { config } = deps;
  const { users } = found;
  log.info(
    `incident ${run.incident.name}: ${users.length} user(s), ${found.groups.length} group(s), ${found.apps.length} application(s), ${found.unusableAccounts.length} account(s) without an Entra id`,
  );
  const scope = await incidentScope(run, run.incident);
  const base = { ...facts(run.incident, found, run.dryRun), decisions: scope };
  if (holds(scope).length > 0 && !run.dryRun) return settle(run, "held", base);
  if (users.length === 0) return settle(run, "no-account", base);

  // A wave was recorded earlier: only verify it (never a second wave).
  const wave = run.record?.wave;
  if (wave && !run.dryRun) return verifyWave(run, wave, { ...base, decisions: [...scope, ...changedCheck(run, found)] });

  // The user checks, the assignment lists and the restore history (reads only) run in parallel.
  const pairs = pairsOf(found, groupRoles(run));
  const [userChecks, listed, history] = await Promise.all([
    checkUsers(users, deps, run.signal),
    listAssignments(run, holds(scope).length > 0 ? [] : users.map((u) => u.objectId)).catch((error: unknown) => error as Error),
    deps.store.restoresOf(pairs, deps.now() - DAY_MS, run.signal),
  ]);
  const decisions = [...scope, ...userChecks, ...repeatChecks(pairs, history, config.limits.repeatRestoreLimit)];
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
  log.info(
    `incident ${run.incident.name}: ${plan.reprocess.length} to reprocess, ${plan.skipped.length} skipped, ${holds(decisions).length} hold(s)`,
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

/** The incident-wide checks, and the ones that depend only on what the incident names. */
async function incidentScope(run: Run, incident: IncidentState): Promise<Decision[]> {
  const { users, groups, apps } = run.found;
  const scope = await checkIncident(incident, run.deps, run.signal);
  if (users.length > 0) scope.push(checkUserCount(users, run.deps.config.limits.maxUsersPerIncident));
  const named = groups.length + apps.length > 0;
  scope.push({
    guard: "lost-access",
    result: named ? "pass" : "hold",
    reason: named
      ? `the incident names what was lost: ${groups.length} group(s), ${apps.length} application(s)`
      : "the incident names no group or application the user lost, so the app cannot tell what to restore or verify",
  });
  return scope;
}

/**
 * Which role of its groups the incident reports lost: ownership for the alerts of
 * SENTINEL_OWNER_RULE_IDS, membership for the others. An incident that merges both kinds of
 * alert does not say which group lost which role: each of its groups is checked for both.
 */
function groupRoles(run: Run): ("group" | "owner")[] {
  const { config } = run.deps;
  const ownerRules = new Set(config.ownerRuleIds.map((r) => ruleArmId(config.workspace, r)));
  const roles = new Set(run.incident.ruleIds.map((r) => (ownerRules.has(r) ? ("owner" as const) : ("group" as const))));
  return roles.size > 0 ? [...roles] : ["group"];
}

/** Every (user, group role or application) pair the incident names: what must be restored before it is closed. */
function pairsOf({ users, groups, apps }: ExtractedEntities, roles: ("group" | "owner")[]): Pair[] {
  return users.flatMap((u) => [
    ...groups.flatMap((g) => roles.map((kind) => ({ userId: u.objectId, kind, targetId: g }))),
    ...apps.map((a) => ({ userId: u.objectId, kind: "app" as const, targetId: a })),
  ]);
}

/**
 * An alert joined the incident after the wave was recorded: the incident now names pairs the wave
 * did not plan for. The app never requests a second wave, so it holds: closing would hide them.
 */
function changedCheck(run: Run, current: ExtractedEntities): Decision[] {
  const wave = run.record?.wave;
  if (!wave) return [];
  const planned = new Set([...wave.pairs, ...(wave.left ?? [])].map(pairKey));
  const unplanned = pairsOf(current, groupRoles(run)).filter((p) => !planned.has(pairKey(p)));
  if (unplanned.length === 0) return [];
  const named = unplanned
    .slice(0, 5)
    .map((p) => `${p.userId} → ${{ group: "group", owner: "owner of group", app: "application" }[p.kind]} ${p.targetId}`);
  return [
    {
      guard: "changed",
      result: "hold",
      reason: `an alert joined the incident after the app reprocessed: it now also names ${unplanned.length} pair(s) the app did not plan for (${named.join(", ")}${unplanned.length > 5 ? ", …" : ""})`,
    },
  ];
}

/** Tug of war: a pair restored `limit` times in the last 24 hours holds its user. */
function repeatChecks(pairs: Pair[], history: Map<string, number | "unreadable">, limit: number): Decision[] {
  return pairs.flatMap((p) => {
    const times = history.get(pairKey(p)) ?? 0;
    const what = { group: `group ${p.targetId}`, owner: `the owners of group ${p.targetId}`, app: `application ${p.targetId}` }[p.kind];
    const reason =
      times === "unreadable"
        ? `the state table's restore history of this user and ${what} is unreadable, so a repeat cannot be ruled out; decide by hand`
        : times >= limit
          ? `someone keeps removing this user from ${what}: restored ${times} time(s) in 24 hours (REPEAT_RESTORE_LIMIT ${limit}); decide by hand`
          : undefined;
    return reason ? [{ guard: "repeat" as const, userId: p.userId, result: "hold" as const, reason }] : [];
  });
}

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
  const heldReason = (userId: string) => holds(decisions).find((d) => d.userId === userId)?.reason;
  const covered: Pair[] = [];
  const left: PairNote[] = [];
  for (const p of pairs) {
    const held = heldReason(p.userId);
    if (held) left.push({ ...p, reason: `held: ${held}` });
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
 * Steps: reserve the hourly cap (re-reading the incident meanwhile when the first read is no
 * longer fresh, and re-checking it on that read), record the wave (before the first call, so no
 * retry repeats it), reprocess, then verify.
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
  const stale = deps.now() - run.readAt > FRESH_MS;
  const [reservation, fresh] = await Promise.all([
    deps.store.reserveRestores(restoring, cap, deps.now(), signal),
    stale ? rereadIncident(run) : run.incident,
  ]);
  const recheck = stale ? await incidentScope(run, fresh) : [];
  if (holds(recheck).length > 0) {
    await deps.store.releaseRestores(reservation, restoring, signal).catch(() => undefined);
    return settle(run, "held", { ...planned.facts, decisions: recheck }, "The incident changed before anything was reprocessed.");
  }
  if (!reservation.granted) {
    const reason = reservation.problem
      ? `${reservation.problem}: nothing is restored until it can be read`
      : `${reservation.used} of ${cap} users already restored in the last 60 minutes${reservation.freesAt ? `; room again from ${new Date(reservation.freesAt).toISOString()}` : ""}`;
    const capDecision: Decision = { guard: "hourly-cap", result: "hold", reason };
    return settle(run, "capped", { ...planned.facts, decisions: [...planned.facts.decisions, capDecision] });
  }

  const wave: Wave = { requestedAt: deps.now(), assignments: plan.reprocess, pairs: covered, left };
  await Promise.all([
    save(run, { ...baseRecord(run), outcome: "reprocess-requested", wave }),
    deps.store.noteRestores(covered, deps.now(), signal),
  ]);
  const done = await reprocessAll(run, plan.reprocess);
  const requested: Wave = { ...wave, failed: done.failed.map((f) => ({ assignmentId: f.assignmentId, error: f.error })) };
  if (done.failed.length > 0) {
    await save(run, { ...baseRecord(run), outcome: "reprocess-requested", wave: requested });
    return settle(
      run,
      "failed",
      { ...planned.facts, reprocessed: done.reprocessed, failed: done.failed, skipped: [...plan.skipped, ...done.gone] },
      `${done.failed.length} reprocess call(s) failed; the app requests those again on its next attempt`,
    );
  }
  return verify(run, requested, { ...planned.facts, reprocessed: done.reprocessed, skipped: [...plan.skipped, ...done.gone] }, false);
}

/** A later run on a recorded wave: request again only the calls that failed, re-check the users, verify. */
async function verifyWave(run: Run, wave: Wave, base: Facts): Promise<RemediationSummary> {
  const failedIds = new Set((wave.failed ?? []).map((f) => f.assignmentId));
  let current = wave;
  let failed: FailedAssignment[] = [];
  if (failedIds.size > 0) {
    await run.claimed;
    const retried = await reprocessAll(
      run,
      wave.assignments.filter((a) => failedIds.has(a.assignmentId)),
    );
    current = { ...wave, failed: retried.failed.map((f) => ({ assignmentId: f.assignmentId, error: f.error })) };
    failed = retried.failed;
    await save(run, { ...baseRecord(run), outcome: "reprocess-requested", wave: current });
  }
  const reprocessed = wave.assignments.filter((a) => !current.failed?.some((f) => f.assignmentId === a.assignmentId));
  const f: Facts = { ...base, reprocessed, failed, notRestored: wave.left ?? [] };
  if (failed.length > 0) return settle(run, "failed", f, `${failed.length} reprocess call(s) failed again`);
  return verify(run, current, f, true);
}

/**
 * Step: poll Graph until every covered group pair shows as a direct membership again (application
 * roles cannot be verified), re-checking the users when an earlier run requested the wave. Closes
 * only when every pair the incident names is restored and verified.
 */
async function verify(run: Run, wave: Wave, f: Facts, recheckUsers: boolean): Promise<RemediationSummary> {
  const { deps } = run;
  const [seen, userChecks] = await Promise.all([
    waitForDelivery(
      run,
      wave.pairs.filter((p) => p.kind !== "app"),
    ),
    recheckUsers ? checkUsers(run.found.users, deps, run.signal) : Promise.resolve([]),
  ]);
  const decisions = [...f.decisions, ...userChecks];
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
    ...f,
    decisions,
    restored,
    notRestored: [...notRestored, ...pending.map((p) => ({ ...p, reason: "not delivered yet" }))],
  };
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
  return close(run, verified);
}

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
  run.log.info(`incident ${run.incident.name}: reprocessed ${reprocessed.length}, failed ${failed.length}`);
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
 * Step: close with the etag of the last read. A conflict means the incident changed since: read
 * it again and decide again from every incident check (closed by someone else, an analyst on it,
 * a hold label, a merged alert), and close only if all still pass.
 */
async function close(run: Run, f: Facts): Promise<RemediationSummary> {
  const { deps, signal } = run;
  for (let attempt = 1; attempt <= CLOSE_ATTEMPTS; attempt++) {
    await run.claimed;
    const result = await deps.sentinel.closeIncident(
      run.incident,
      {
        classificationComment: `Access restored automatically: ${f.reprocessed.length || "earlier"} reprocessed access package assignment(s), every membership verified; see the comment.`,
        label: AUTO_LABEL,
      },
      signal,
    );
    if (result === "closed") {
      run.log.info(`incident ${run.incident.name}: closed as BenignPositive`);
      return settle(run, "remediated", f);
    }
    // The incident changed: read it and its entities again (an alert may have joined it), decide again.
    const [, entities] = await Promise.all([rereadIncident(run), deps.sentinel.listEntities(run.incident.name, signal)]);
    if (run.incident.status === "Closed") return settle(run, "closed-by-other", f);
    const recheck = [...(await incidentScope(run, run.incident)), ...changedCheck(run, extractEntities(entities))];
    if (holds(recheck).length > 0) {
      return settle(
        run,
        "held",
        { ...f, decisions: recheck },
        "Access was restored, but the incident changed meanwhile, so it was not closed.",
      );
    }
  }
  throw new UpstreamError(
    "sentinel",
    409,
    `Sentinel could not close incident ${run.incident.name}: it changed under ${CLOSE_ATTEMPTS} attempts`,
  );
}

/**
 * Step: report. Writes the record of the state reached (lease released) and, when the state or
 * its reason changed, one new comment that supersedes the earlier ones. Once the incident is
 * closed, a failing comment is logged and does not undo the outcome.
 */
async function settle(run: Run, outcome: Outcome, f: Facts, message?: string): Promise<RemediationSummary> {
  const { deps, log, signal, incident } = run;
  await run.claimed;
  const failures = outcome === "failed" ? failureCount(run) : run.dryRun ? (run.record?.failures ?? 0) : 0;
  const text =
    outcome === "failed"
      ? failureMessage(run, failures, message ?? "")
      : outcome === "held" && holds(f.decisions).length > 0
        ? [holdMessage(f.decisions), message].filter(Boolean).join(" ")
        : (message ?? headline(outcome));
  const closed = outcome === "remediated";
  const previous = run.record;
  const changed = previous?.outcome !== outcome || previous.reason !== text || previous.dryRun !== run.dryRun;
  const update = (previous?.comments ?? 0) + (changed ? 1 : 0);
  const summary: RemediationSummary = { ...f, decisions: sortDecisions(f.decisions), outcome, message: text, closed, update };
  // Every hold is in the log too (a dry run logs every check).
  for (const d of summary.decisions.filter((d) => summary.dryRun || d.result === "hold")) {
    log.info(`incident ${incident.name}: ${d.result} [${d.guard}]${d.userId ? ` user ${d.userId}` : ""}: ${printable(d.reason, 300)}`);
  }
  if (changed) {
    const commentId = stableId(incident.name, "update", String(update));
    try {
      await deps.sentinel.upsertComment(incident.name, commentId, renderComment(summary), signal);
      summary.commentId = commentId;
    } catch (error) {
      // Closed is closed; and a failure is still counted when it cannot be said on the incident.
      if (!closed && outcome !== "failed") throw error;
      log.warn(`incident ${incident.name}: ${outcome}, but the comment could not be written: ${printable(messageOf(error), 300)}`);
    }
  }
  try {
    await save(run, { ...baseRecord(run), outcome, failures, comments: update, reason: text });
  } catch (error) {
    // Closed is closed: the next run reads the incident's status first and reports already-closed.
    if (!closed) throw error;
    log.warn(`incident ${incident.name}: closed, but its state could not be recorded: ${printable(messageOf(error), 300)}`);
  }
  log.info(`incident ${incident.name}: ${outcome}${summary.commentId ? `, comment ${summary.commentId}` : ""}`);
  log.info(decisionLine(decisionRecord(summary, deps.now(), run.record?.wave?.requestedAt)));
  return summary;
}

/** A run that failed (Graph, Sentinel, a bound): count it (enforcing runs only), say so, keep the wave. */
async function recordFailure(run: Run, error: AppError, signal: AbortSignal): Promise<void> {
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
    const f = { ...facts(run.incident, run.found, run.dryRun), notRestored: run.record?.wave?.left ?? [] };
    await settle({ ...run, signal, claimed: Promise.resolve() }, "failed", f, error.message);
  } catch (writeError) {
    run.log.warn(`incident ${run.incident.name}: could not record the failure: ${messageOf(writeError)}`);
  }
}

/** What a failure means for the incident, from the recorded state (never more than it knows). */
function failureMessage(run: Run, failures: number, detail: string): string {
  const wave = run.record?.wave;
  const state = wave
    ? `Reprocess of ${wave.assignments.length} assignment(s) was requested at ${new Date(wave.requestedAt).toISOString()}; it is not requested again, only checked.`
    : "Nothing was reprocessed.";
  if (run.dryRun) return `Dry run failed (not counted as an attempt). ${state} ${detail}`;
  const max = run.deps.config.sweep.maxAttempts;
  return failures >= max
    ? `Remediation failed ${failures} times; the app has stopped trying and the incident needs an admin. ${state} Last error: ${detail}`
    : `Attempt ${failures} of ${max} failed; the app tries again. ${state} ${detail}`;
}

/** Enforcing failures in a row; a dry run's failure is never counted. */
function failureCount(run: Run): number {
  const before = run.record?.failures ?? 0;
  return run.dryRun ? before : before + 1;
}

/** The fields every write carries over: the wave (never dropped once recorded), the comment count. */
function baseRecord(run: Run): IncidentRecord {
  const r = run.record;
  return {
    outcome: r?.outcome ?? "new",
    dryRun: run.dryRun,
    ...(run.dryRunByHand ? { byHand: true } : {}),
    failures: r?.failures ?? 0,
    comments: r?.comments ?? 0,
    ...(r?.wave ? { wave: r.wave } : {}),
    ...(r?.reason !== undefined ? { reason: r.reason } : {}),
    incident: { title: run.incident.title, ...(run.incident.incidentNumber !== undefined ? { number: run.incident.incidentNumber } : {}) },
    updatedAt: run.deps.now(),
  };
}

/** A conditional write of the record; the run then works from what it wrote. */
async function save(run: Run, record: IncidentRecord): Promise<void> {
  const written = { ...record, updatedAt: run.deps.now() };
  run.etag = await run.deps.store.save(run.incident.name, written, run.etag, run.signal);
  run.record = written;
}

/** Step: read the incident and its entities from Sentinel (the body was only a pointer). */
async function readIncident(
  incidentId: string,
  deps: Deps,
  signal: AbortSignal,
): Promise<{ incident: IncidentState; entities: IncidentEntity[] }> {
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

/** Reads the incident again; the run works from this read (and closes with its etag) from now on. */
async function rereadIncident(run: Run): Promise<IncidentState> {
  const fresh = await run.deps.sentinel.getIncident(run.incident.name, run.signal);
  if (!fresh)
    throw new RequestError(
      "IncidentNotFound",
      `Incident ${run.incident.name} was deleted while it was being remediated; nothing more to do`,
    );
  run.incident = fresh;
  run.readAt = run.deps.now();
  return fresh;
}

function facts(incident: IncidentState, found: ExtractedEntities, dryRun: boolean): Facts {
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

const sortDecisions = (d: Decision[]) => [...holds(d), ...d.filter((x) => x.result === "pass")];

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
