import { createHash } from "node:crypto";
import type { UserRef } from "./entities";
import type { AssignmentRef, SkippedAssignment } from "./plan";

export type Outcome =
  /** Reprocessed and closed. */
  | "remediated"
  /** The incident was already closed: nothing done (replayed webhook). */
  | "already-closed"
  /** Dry-run mode: commented what would be done, nothing changed. */
  | "dry-run"
  /** No assignment to reprocess (none, none granting the group, none delivered): left open for review. */
  | "nothing-to-reprocess"
  /** No Account entity with an Entra object id: left open. */
  | "no-account"
  /** At least one reprocess call failed: left open, the caller should retry. */
  | "failed";

export interface FailedAssignment extends AssignmentRef {
  error: string;
}

/** The JSON answer of the webhook and of `cli replay --json`. */
export interface RemediationSummary {
  incident: { id: string; number?: number; title?: string; url?: string };
  outcome: Outcome;
  dryRun: boolean;
  users: UserRef[];
  /** Group object ids from SecurityGroup entities; empty = unknown, every assignment considered. */
  groups: string[];
  reprocessed: AssignmentRef[];
  /** Dry run only: what would have been reprocessed. */
  wouldReprocess: AssignmentRef[];
  skipped: SkippedAssignment[];
  failed: FailedAssignment[];
  /** Partially delivered assignments an admin should look at. */
  needsAttention: AssignmentRef[];
  closed: boolean;
  /** Id of the comment written on the incident, if any. */
  commentId?: string;
  /** One readable sentence. */
  message: string;
}

/** A GUID derived from its inputs, so that a repeated delivery upserts the same comment. */
export function stableId(...parts: string[]): string {
  const h = createHash("sha256").update(parts.join("\u0000")).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

export const userLabel = (u: UserRef) => (u.name ? `${u.name} (${u.objectId})` : u.objectId);

export const assignmentLabel = (a: AssignmentRef) =>
  `${a.accessPackageName ? `"${a.accessPackageName}"` : `access package ${a.accessPackageId}`} (assignment ${a.assignmentId})`;

const HEADLINE: Record<Outcome, string> = {
  remediated: "Access restored: the user's access package assignments were reprocessed and the incident is closed.",
  "already-closed": "The incident was already closed; nothing was done.",
  "dry-run": "Dry run: nothing was reprocessed and the incident was not closed. This is what would happen.",
  "nothing-to-reprocess":
    "No access package assignment needed reprocessing, so access was not restored by automation. The incident is left open for review.",
  "no-account":
    "No Account entity with an Entra object id (aadUserId or objectGuid) was found in the incident, so nothing was reprocessed. The incident is left open.",
  failed: "Some reprocess calls failed; the incident is left open and the remediation will be retried.",
};

/** Sentinel renders incident comments as HTML; they are limited to 30,000 characters. */
const COMMENT_LIMIT = 30_000;

/** The lists both renderings show, in order. */
function sections(s: RemediationSummary): [title: string, items: string[]][] {
  return [
    ["Users", s.users.map(userLabel)],
    ["Groups the user was removed from", s.groups],
    ["Reprocessed", s.reprocessed.map(assignmentLabel)],
    ["Would reprocess", s.wouldReprocess.map(assignmentLabel)],
    ["Failed", s.failed.map((f) => `${assignmentLabel(f)}: ${f.error}`)],
    ["Needs an admin (partially delivered)", s.needsAttention.map(assignmentLabel)],
    ["Skipped", s.skipped.map((k) => `${assignmentLabel(k)}: ${k.reason}`)],
  ];
}

const NO_GROUP = "Group not identified: every assignment of the user was considered.";

export function renderComment(s: RemediationSummary): string {
  const html = [
    `<p><b>Access package remediation</b>: ${esc(HEADLINE[s.outcome])}</p>`,
    s.message && s.message !== HEADLINE[s.outcome] ? `<p>${esc(s.message)}</p>` : "",
    s.groups.length || s.outcome === "already-closed" ? "" : `<p>${esc(NO_GROUP)}</p>`,
    ...sections(s)
      .filter(([, items]) => items.length > 0)
      .map(([title, items]) => `<p><b>${esc(title)}</b></p><ul>${items.map((i) => `<li>${esc(i)}</li>`).join("")}</ul>`),
  ].join("");
  return html.length <= COMMENT_LIMIT ? html : `${html.slice(0, COMMENT_LIMIT - 40)}… (truncated; see the function's log)`;
}

export function headline(outcome: Outcome): string {
  return HEADLINE[outcome];
}

/** Plain-text rendering for the command line. */
export function renderText(s: RemediationSummary): string {
  const number = s.incident.number !== undefined ? `#${s.incident.number} ` : "";
  const lines = [
    `Incident ${number}${s.incident.id}${s.incident.title ? ` "${s.incident.title}"` : ""}`,
    `Outcome: ${s.outcome}${s.dryRun ? " (dry run)" : ""}; closed: ${s.closed ? "yes" : "no"}`,
    s.message,
  ];
  for (const [title, items] of sections(s)) {
    if (items.length) lines.push(`${title} (${items.length}):`, ...items.map((i) => `  - ${i}`));
  }
  return lines.join("\n");
}
