import { ruleArmId, sameName as same, type WorkspaceRef } from "../config";
import type { Deps } from "../deps";
import { UpstreamError } from "../errors";
import type { UserRef } from "./entities";
import type { Decision, Pair } from "./domain";
import { pairsOf, type Snapshot } from "./snapshot";
import { pairKey, type Reservation } from "../store";

/** The label the app adds when it closes an incident. */
export const AUTO_LABEL = "auto-remediated";

/** The product name Sentinel's own analytics rules give their alerts (both spellings are in use). */
export const SENTINEL_PRODUCTS = ["Azure Sentinel", "Microsoft Sentinel"];

/** Identity Protection states and levels that mean the SOC may be containing the user. */
const RISKY_STATES = new Set(["atRisk", "confirmedCompromised"]);

/**
 * The incident-wide checks, all of them (a dry run shows each), on one snapshot. The app acts
 * only on an incident whose every alert is the removal rule's (in the configured workspace) and
 * Sentinel's own, that nobody has started on or owns, that carries no hold label, that it did not
 * close before, and that is younger than SWEEP_MAX_AGE_HOURS.
 */
export function checkIncident(snapshot: Snapshot, deps: Pick<Deps, "config" | "now">): Decision[] {
  const { config } = deps;
  const { incident, alerts: listed } = snapshot;
  // The incident's own list of its alerts' products when it has one; otherwise (absent or empty,
  // as Defender-portal incidents may be) the alerts themselves, which must add up to alertsCount.
  const products = listed ? listed.products : (incident.alertProductNames ?? []);
  const unaccounted = !listed
    ? ""
    : !listed.complete
      ? "the alert list Sentinel answered has more pages than its API documents"
      : incident.alertsCount !== undefined && incident.alertsCount !== listed.products.length
        ? `Sentinel listed ${listed.products.length} alert(s) of the incident's ${incident.alertsCount}`
        : "";
  const allowed = new Set(config.allowedRuleIds.map((r) => ruleArmId(config.workspace, r)));
  const otherRules = incident.ruleIds.filter((r) => !allowed.has(r));
  const otherProducts = [...new Set(products.filter((p) => !SENTINEL_PRODUCTS.some((s) => same(s, p))))];
  const ours =
    incident.ruleIds.length > 0 && otherRules.length === 0 && otherProducts.length === 0 && products.length > 0 && unaccounted === "";
  const details = [
    incident.ruleIds.length === 0 ? "no analytics rule" : "",
    products.length === 0 ? "no alerts" : "",
    otherRules.length
      ? `rule(s) not in SENTINEL_RULE_IDS or SENTINEL_OWNER_RULE_IDS: ${otherRules.map((r) => shortRule(r, config.workspace)).join(", ")}`
      : "",
    otherProducts.length ? `alerts from ${otherProducts.join(", ")}` : "",
    unaccounted,
  ].filter(Boolean);
  const label = config.holdLabel.trim();
  const held = incident.labels.some((l) => same(l.trim(), label));
  const reopened = incident.labels.some((l) => same(l.trim(), AUTO_LABEL));
  // Fails closed: an owner that names anyone holds unless Sentinel says it is a group (a queue);
  // how Defender-portal assignments come back through ARM is not documented, so "Unknown" or no
  // type with a name is treated as a person. An owner naming no one is no owner, whatever its type.
  const o = incident.owner;
  const owner = [o?.assignedTo, o?.userPrincipalName, o?.email, o?.objectId].map((v) => v?.trim()).find((v) => v !== undefined && v !== "");
  const ownedByPerson = owner !== undefined && !same(incident.ownerType ?? "", "Group");
  const created = incident.createdTimeUtc?.getTime();
  const ageHours = created === undefined ? undefined : (deps.now() - created) / 3_600_000;
  const maxHours = config.sweep.maxAgeMs / 3_600_000;
  return [
    decide(
      "alerts",
      ours,
      "every alert comes from an allowed removal rule",
      `incident holds alerts of other rules or products (${details.join("; ")})`,
    ),
    decide("status", incident.status === "New", "incident is New", `incident is ${incident.status}: an analyst is on it`),
    decide(
      "owner",
      !ownedByPerson,
      owner === undefined ? "no analyst owns the incident" : `a queue owns the incident (${owner}), not an analyst`,
      same(incident.ownerType ?? "", "User")
        ? `an analyst owns the incident (${owner ?? ""})`
        : `the incident is assigned to ${owner ?? ""} (owner type ${incident.ownerType ?? "not given"}): the app cannot tell it from an analyst`,
    ),
    decide("hold-label", !held, `no "${label}" label`, `incident carries the label "${label}"`),
    decide(
      "reopened",
      !reopened,
      "not closed by this app before",
      `this app closed the incident before (label "${AUTO_LABEL}") and someone reopened it`,
    ),
    decide(
      "age",
      ageHours !== undefined && ageHours <= maxHours,
      `created ${ageHours === undefined ? "?" : ageHours.toFixed(1)} h ago, within SWEEP_MAX_AGE_HOURS (${maxHours})`,
      ageHours === undefined
        ? "the incident has no creation time"
        : `incident was created ${ageHours.toFixed(1)} h ago, more than SWEEP_MAX_AGE_HOURS (${maxHours}): too old to act on automatically`,
    ),
  ];
}

/** An alertRules ARM id as its GUID when it is in the configured workspace, else whole (another workspace's rule). */
function shortRule(armId: string, workspace: WorkspaceRef): string {
  const prefix = ruleArmId(workspace, "");
  return armId.startsWith(prefix) ? armId.slice(prefix.length) : armId;
}

/** An incident-wide decision: pass with one reason, hold with the other. */
function decide(guard: Decision["guard"], passed: boolean, passReason: string, holdReason: string): Decision {
  return { guard, result: passed ? "pass" : "hold", reason: passed ? passReason : holdReason };
}

/** One incident naming more users than allowed (e.g. an NRT summary alert) is held whole. */
export function checkUserCount(users: UserRef[], max: number): Decision {
  return decide(
    "users-per-incident",
    users.length <= max,
    `${users.length} user(s), within MAX_USERS_PER_INCIDENT (${max})`,
    `incident names ${users.length} users, more than MAX_USERS_PER_INCIDENT (${max}); held whole`,
  );
}

/** The incident-wide checks and the ones that depend only on what the snapshot names: the checks every change re-runs. */
export function checkScope(snapshot: Snapshot, deps: Pick<Deps, "config" | "now">): Decision[] {
  const { users, groups, apps } = snapshot.found;
  const scope = checkIncident(snapshot, deps);
  if (users.length > 0) scope.push(checkUserCount(users, deps.config.limits.maxUsersPerIncident));
  const named = groups.length + apps.length > 0;
  scope.push(
    decide(
      "lost-access",
      named,
      `the incident names what was lost: ${groups.length} group(s), ${apps.length} application(s)`,
      "the incident names no group or application the user lost, so the app cannot tell what to restore or verify",
    ),
  );
  return scope;
}

/** The guards checkScope decides: a fresh snapshot's decisions replace these. */
export const SCOPE_GUARDS: ReadonlySet<Decision["guard"]> = new Set([
  "alerts",
  "status",
  "owner",
  "hold-label",
  "reopened",
  "age",
  "users-per-incident",
  "lost-access",
  "changed",
]);

const KIND_NAMES = { group: "group", owner: "owner of group", app: "application" } as const;

/**
 * The snapshot names pairs the plan (or the recorded wave) did not plan for: an alert joined the
 * incident since. The app never plans a second wave, so it holds: closing would hide them.
 */
export function checkChanged(snapshot: Snapshot, planned: Pair[], config: Deps["config"]): Decision[] {
  const known = new Set(planned.map(pairKey));
  const unplanned = pairsOf(snapshot, config).filter((p) => !known.has(pairKey(p)));
  if (unplanned.length === 0) return [];
  const named = unplanned.slice(0, 5).map((p) => `${p.userId} → ${KIND_NAMES[p.kind]} ${p.targetId}`);
  return [
    {
      guard: "changed",
      result: "hold",
      reason: `an alert joined the incident after the app planned: it now also names ${unplanned.length} pair(s) the app did not plan for (${named.join(", ")}${unplanned.length > 5 ? ", …" : ""})`,
    },
  ];
}

/** Tug of war: a pair restored `limit` times in the last 24 hours holds its user. */
export function checkRepeats(pairs: Pair[], history: Map<string, number | "unreadable">, limit: number): Decision[] {
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

/** The app's record of the incident cannot be read: whether a wave was requested is unknown, so nothing is. */
export function checkRecord(reason: string): Decision {
  return {
    guard: "state-record",
    result: "hold",
    reason: `the app's record of this incident in the state table is unreadable (${reason}), so it cannot tell whether it already reprocessed; nothing is restored until an admin repairs or deletes the row`,
  };
}

/** The tenant-wide hourly cap, as the reservation found it. */
export function checkCap(reservation: Reservation, cap: number): Decision {
  const reason = reservation.granted
    ? `${reservation.used} of ${cap} users restored in the last 60 minutes, this incident included`
    : reservation.problem
      ? `${reservation.problem}: nothing is restored until it can be read`
      : `${reservation.used} of ${cap} users already restored in the last 60 minutes${reservation.freesAt ? `; room again from ${new Date(reservation.freesAt).toISOString()}` : ""}`;
  return { guard: "hourly-cap", result: reservation.granted ? "pass" : "hold", reason };
}

/**
 * Per-user checks, read in parallel: a disabled account or a user Identity Protection marks at
 * risk is never restored. A refused read (401/403) holds the user and names the permission; a
 * user never flagged (404 on riskyUsers) is not at risk; any other failure fails the run, so
 * nothing proceeds blind and the run is retried.
 */
export async function checkUsers(users: UserRef[], deps: Pick<Deps, "graph" | "config">, signal: AbortSignal): Promise<Decision[]> {
  const perUser = await Promise.all(
    users.map(async (u) => {
      const [account, risk] = await Promise.all([
        checkAccount(u.objectId, deps, signal),
        deps.config.riskCheck ? checkRisk(u.objectId, deps, signal) : undefined,
      ]);
      return risk ? [account, risk] : [account];
    }),
  );
  return perUser.flat();
}

async function checkAccount(userId: string, deps: Pick<Deps, "graph">, signal: AbortSignal): Promise<Decision> {
  const decision = (result: Decision["result"], reason: string): Decision => ({ guard: "account", userId, result, reason });
  try {
    const account = await deps.graph.getUser(userId, signal);
    if (!account) return decision("hold", "no such user in the directory");
    return account.accountEnabled ? decision("pass", "account is enabled") : decision("hold", "account is disabled");
  } catch (error) {
    if (refused(error)) return decision("hold", `could not read the account: ${(error as Error).message}`);
    throw error;
  }
}

async function checkRisk(userId: string, deps: Pick<Deps, "graph">, signal: AbortSignal): Promise<Decision> {
  const decision = (result: Decision["result"], reason: string): Decision => ({ guard: "risk", userId, result, reason });
  try {
    const risk = await deps.graph.getRisk(userId, signal);
    if (!risk) return decision("pass", "not flagged by Identity Protection");
    const risky = RISKY_STATES.has(risk.riskState) || risk.riskLevel === "high";
    return decision(risky ? "hold" : "pass", `Identity Protection: risk state ${risk.riskState}, level ${risk.riskLevel}`);
  } catch (error) {
    if (refused(error))
      return decision(
        "hold",
        `could not read the user's risk (set IDENTITY_PROTECTION_CHECK=off without Entra ID P2): ${(error as Error).message}`,
      );
    throw error;
  }
}

const refused = (error: unknown) => error instanceof UpstreamError && (error.upstreamStatus === 401 || error.upstreamStatus === 403);

export const holds = (decisions: Decision[]) => decisions.filter((d) => d.result === "hold");

/** Users no user-level decision holds. */
export function usersCleared(users: UserRef[], decisions: Decision[]): UserRef[] {
  const held = new Set(holds(decisions).flatMap((d) => (d.userId ? [d.userId] : [])));
  return users.filter((u) => !held.has(u.objectId));
}
