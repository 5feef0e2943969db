import { sameName as same, type Config } from "../config";
import type { Deps } from "../deps";
import { UpstreamError } from "../errors";
import type { IncidentState } from "../sentinel";
import type { UserRef } from "./entities";
import type { Decision } from "./report";

/** The label the app adds when it closes an incident. */
export const AUTO_LABEL = "auto-remediated";

/** The product name Sentinel's own analytics rules give their alerts (both spellings are in use). */
export const SENTINEL_PRODUCTS = ["Azure Sentinel", "Microsoft Sentinel"];

/** Identity Protection states and levels that mean the SOC may be containing the user. */
const RISKY_STATES = new Set(["atRisk", "confirmedCompromised"]);

/**
 * The incident-wide checks, all of them (a dry run shows each). The app acts only on an incident
 * whose every alert is the removal rule's, that nobody has started on, that carries no hold label
 * and that it did not close before.
 */
export function checkIncident(incident: IncidentState, config: Pick<Config, "allowedRuleIds" | "holdLabel">): Decision[] {
  const otherRules = incident.ruleIds.filter((r) => !config.allowedRuleIds.includes(r));
  const otherProducts = incident.alertProductNames.filter((p) => !SENTINEL_PRODUCTS.some((s) => same(s, p)));
  const ours = incident.ruleIds.length > 0 && otherRules.length === 0 && otherProducts.length === 0;
  const details = [
    incident.ruleIds.length === 0 ? "no analytics rule" : "",
    otherRules.length ? `rule(s) not in SENTINEL_RULE_IDS: ${otherRules.join(", ")}` : "",
    otherProducts.length ? `alerts from ${otherProducts.join(", ")}` : "",
  ].filter(Boolean);
  const held = incident.labels.some((l) => same(l, config.holdLabel));
  const reopened = incident.labels.some((l) => same(l, AUTO_LABEL));
  return [
    decide("alerts", ours, "every alert comes from an allowed removal rule", `incident holds alerts of other rules or products (${details.join("; ")})`),
    decide("status", incident.status === "New", "incident is New", `incident is ${incident.status}: an analyst is on it`),
    decide("hold-label", !held, `no "${config.holdLabel}" label`, `incident carries the label "${config.holdLabel}"`),
    decide("reopened", !reopened, "not closed by this app before", `this app closed the incident before (label "${AUTO_LABEL}") and someone reopened it`),
  ];
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
    if (refused(error)) return decision("hold", `could not read the user's risk (set IDENTITY_PROTECTION_CHECK=off without Entra ID P2): ${(error as Error).message}`);
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
