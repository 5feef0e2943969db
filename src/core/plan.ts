import type { Assignment, Grants } from "../graph";
import type { AssignmentRef, SkippedAssignment } from "./domain";

export interface Plan {
  reprocess: AssignmentRef[];
  skipped: SkippedAssignment[];
  /** Assignments only partly delivered: reprocess cannot fix them, an admin should look. */
  attention: AssignmentRef[];
}

const STATE_REASON: Record<string, string> = {
  expired: "assignment has expired",
  delivering: "delivery already in progress",
  deliveryFailed: "delivery failed; reprocess only applies to delivered assignments, check the assignment's request history",
  partiallyDelivered: "partially delivered; reprocess only applies to delivered assignments, an admin should check which resources failed",
};

export function toRef(userId: string, a: Assignment): AssignmentRef {
  return {
    userId,
    assignmentId: a.id,
    accessPackageId: a.accessPackageId,
    ...(a.accessPackageName !== undefined ? { accessPackageName: a.accessPackageName } : {}),
    state: a.state,
  };
}

/**
 * Chooses what to reprocess. When what the user lost is known (group memberships, group
 * ownerships, applications), only
 * assignments whose access package grants one of them; otherwise every assignment. Of those,
 * only `delivered` ones: Graph documents reprocess for delivered assignments only; the others
 * are skipped with a reason. Assignments granting nothing that was lost are left out.
 *
 * @param grants access package id → what it grants (only needed when something lost is known)
 */
export function planReprocess(
  assignments: { userId: string; assignments: Assignment[] }[],
  lost: Grants,
  grants: ReadonlyMap<string, Grants>,
): Plan {
  const known = lost.groups.length + lost.owners.length + lost.apps.length > 0;
  const plan: Plan = { reprocess: [], skipped: [], attention: [] };
  const seen = new Set<string>();
  for (const { userId, assignments: list } of assignments) {
    for (const a of list) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
      const ref = toRef(userId, a);
      if (known) {
        const granted = grants.get(a.accessPackageId) ?? { groups: [], owners: [], apps: [] };
        const grantsLost = (["groups", "owners", "apps"] as const).some((k) => lost[k].some((id) => granted[k].includes(id)));
        // An assignment granting nothing the incident names has nothing to do with the removal.
        if (!grantsLost) continue;
      }
      if (a.state === "delivered") {
        plan.reprocess.push(ref);
        continue;
      }
      plan.skipped.push({ ...ref, reason: STATE_REASON[a.state] ?? `state is ${a.state}, not delivered` });
      if (a.state === "partiallyDelivered") plan.attention.push(ref);
    }
  }
  return plan;
}
