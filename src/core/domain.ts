/**
 * The domain's types, in one place: what the incident says was lost (a pair), the assignments
 * that grant it, the one wave that reprocesses them, the guards and their decisions, and the
 * outcomes a run reaches. Every other module takes them from here.
 */

/** An access package assignment of a user, as the app plans and records it. */
export interface AssignmentRef {
  userId: string;
  assignmentId: string;
  accessPackageId: string;
  accessPackageName?: string;
  state: string;
}

export interface SkippedAssignment extends AssignmentRef {
  reason: string;
}

export interface FailedAssignment extends AssignmentRef {
  error: string;
}

/** Something a user lost that the incident names: a group membership or an application role. */
export interface Pair {
  userId: string;
  /** A group membership, a group ownership, or an application role. */
  kind: "group" | "owner" | "app";
  /** Group object id, or the application's service principal id (lower case). */
  targetId: string;
}

/** The one reprocess wave of an incident: recorded before the first call, never requested again. */
export interface Wave {
  /** When the wave was recorded (epoch ms). */
  requestedAt: number;
  /** Exactly the assignments the wave reprocesses. */
  assignments: AssignmentRef[];
  /** The (user, group or application) pairs the wave is meant to restore. */
  pairs: Pair[];
  /** Filled in once the calls answered: assignments whose reprocess failed or were gone. */
  failed?: { assignmentId: string; error: string }[];
  /** The pairs the wave cannot restore (held user, no package grants it), with why: the incident stays open. */
  left?: (Pair & { reason: string })[];
}

/** A (user, group or application) pair with why it is not restored. */
export type PairNote = Pair & { reason: string };

export type Outcome =
  /** Every pair the incident names reprocessed and seen delivered; closed with the auto-remediated label. */
  | "remediated"
  /** The incident was already closed: nothing done (replayed webhook). */
  | "already-closed"
  /** Someone else closed the incident while the app worked on it: the app did not close it. */
  | "closed-by-other"
  /** Another run (webhook, sweeper, another instance) holds the incident's lease: nothing done. */
  | "in-progress"
  /** Some pairs restored and verified, others not (no package grants them, a user held, an app role): left open. */
  | "partly-restored"
  /** Dry-run mode: every decision shown in a comment, nothing changed. */
  | "dry-run"
  /** A guard kept the app off the incident or off some of its users: left open for an analyst. */
  | "held"
  /** No assignment to reprocess (none, none granting the group, none delivered): left open for review. */
  | "nothing-to-reprocess"
  /** No Account entity with an Entra object id: left open. */
  | "no-account"
  /** Reprocess requested; Entra ID has not delivered the membership yet. Left open; the sweeper checks again. */
  | "awaiting-delivery"
  /** The tenant-wide hourly cap on restored users was reached: left open; the sweeper resumes it. */
  | "capped"
  /** Delivery was not seen within DELIVERY_TIMEOUT_MINUTES: left open for an admin; the app stops. */
  | "delivery-not-seen"
  /** Some reprocess calls or the close failed: left open, the caller (or the sweeper) retries. */
  | "failed";

/** One guard's decision about the incident or one user. */
export interface Decision {
  guard: Guard;
  /** The user it is about; absent for incident-wide guards. */
  userId?: string;
  result: "pass" | "hold";
  reason: string;
}

export type Guard =
  | "alerts"
  | "status"
  | "hold-label"
  | "reopened"
  | "users-per-incident"
  | "account"
  | "risk"
  | "owner"
  | "age"
  | "lost-access"
  | "repeat"
  | "changed"
  | "hourly-cap"
  | "state-record";
