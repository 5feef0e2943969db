/**
 * Generates a large, deterministic tenant for the benchmark: background users with a few
 * assignments each, "focus" users with a given number of assignments, and burst users.
 */
import type { ScenarioInput } from "./scenario";

export interface LargeTenantSpec {
  assignments: number;
  packages: number;
  /** Assignment counts of the users whose single incidents are timed. */
  focus: number[];
  burstUsers: number;
  burstAssignmentsPerUser: number;
}

export interface FocusUser {
  assignments: number;
  userId: string;
  /** No SecurityGroup entity: every assignment is reprocessed, no package is read. */
  /** Group known, the user's packages not yet cached. */
  coldIncident: string;
  /** Group known again (another of the user's packages): packages cached by the cold run. */
  warmIncident: string;
}

export interface LargeTenant {
  scenario: ScenarioInput;
  warmUpIncident: string;
  /** A user with one assignment, for the faults the benchmark injects. */
  faultIncident: string;
  focus: FocusUser[];
  burstIncidents: string[];
}

export const BENCH_RULE_ID = "ef7869b2-7a80-4ed3-ad63-546ce5953647";
const WARM_UP = 20;

/** GUIDs that say what they are: the first digit is the kind, the last 12 the number. */
const id = (kind: number, n: number) => `${kind}0000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const USER = 1;
const PACKAGE = 2;
const GROUP = 3;
const ASSIGNMENT = 4;
const INCIDENT = 5;

export function generateLargeTenant(spec: LargeTenantSpec): LargeTenant {
  // A small linear congruential generator: the same tenant on every run.
  let seed = 42;
  const random = () => (seed = (seed * 1664525 + 1013904223) % 2 ** 32) / 2 ** 32;
  const packages = Array.from({ length: spec.packages }, (_, i) => ({
    id: id(PACKAGE, i),
    displayName: `Package ${i}`,
    groups: [id(GROUP, i)],
  }));
  const assignments: NonNullable<ScenarioInput["assignments"]> = [];
  const incidents: NonNullable<ScenarioInput["incidents"]> = [];
  let users = 0;
  const assign = (userId: string, pkg: number, state: "delivered" | "expired" | "delivering" = "delivered") =>
    assignments.push({ id: id(ASSIGNMENT, assignments.length), userId, accessPackageId: id(PACKAGE, pkg), state });
  const incident = (userId: string, group?: number) => {
    const name = id(INCIDENT, incidents.length);
    incidents.push({
      name,
      number: incidents.length + 1,
      title: "User removed from group or app role by hand",
      ruleIds: [BENCH_RULE_ID],
      entities: [
        { kind: "Account", properties: { aadUserId: userId, accountName: `user${userId.slice(-6)}`, upnSuffix: "contoso.example" } },
        ...(group === undefined ? [] : [{ kind: "SecurityGroup", properties: { objectGuid: id(GROUP, group) } }]),
      ],
    });
    return name;
  };

  const focus: FocusUser[] = spec.focus.map((count) => {
    const userId = id(USER, users++);
    // The last WARM_UP packages are the warm-up user's alone.
    const first = Math.floor(random() * (spec.packages - WARM_UP - count));
    for (let k = 0; k < count; k++) assign(userId, first + k);
    return {
      assignments: count,
      userId,
      coldIncident: incident(userId, first),
      warmIncident: incident(userId, first + count - 1),
    };
  });

  const burstIncidents: string[] = [];
  for (let b = 0; b < spec.burstUsers; b++) {
    const userId = id(USER, users++);
    const pkgs = Array.from({ length: spec.burstAssignmentsPerUser }, () => Math.floor(random() * spec.packages));
    pkgs.forEach((p) => assign(userId, p));
    burstIncidents.push(incident(userId, pkgs[0]));
  }

  // The warm-up user reads WARM_UP access packages at once, so that a warm instance holds as many
  // open connections as a wave of reads uses (opening them all at once on a 2-core machine with the
  // fake in another process serializes the TLS handshakes, which would count as a round trip).
  const warmUpUser = id(USER, users++);
  for (let k = 0; k < WARM_UP; k++) assign(warmUpUser, spec.packages - WARM_UP + k);
  const warmUpIncident = incident(warmUpUser, spec.packages - 1);
  const faultUser = id(USER, users++);
  assign(faultUser, 0);
  const faultIncident = incident(faultUser, 0);

  // Everyone else: about four assignments each, mostly delivered.
  while (assignments.length < spec.assignments) {
    const userId = id(USER, users++);
    for (let k = 0; k < 4 && assignments.length < spec.assignments; k++) {
      const r = random();
      assign(userId, Math.floor(random() * spec.packages), r < 0.85 ? "delivered" : r < 0.95 ? "expired" : "delivering");
    }
  }

  return {
    scenario: {
      tenantId: "c3620297-2040-43b2-a1bc-c604f7f8c54e",
      workspace: { subscriptionId: "3db968d7-cad1-4856-a953-89d2160c03a5", resourceGroup: "rg-sentinel", name: "law-sentinel-prod" },
      users: Array.from({ length: users }, (_, i) => ({
        id: id(USER, i),
        userPrincipalName: `user${i}@contoso.example`,
        displayName: `User ${i}`,
      })),
      groups: [],
      accessPackages: packages,
      assignments,
      incidents,
    },
    warmUpIncident,
    faultIncident,
    focus,
    burstIncidents,
  };
}
