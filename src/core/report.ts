import { printable } from "../errors";
import { v5 as uuidv5 } from "uuid";
import type { AssignmentRef, Decision, FailedAssignment, Guard, Outcome, Pair, PairNote, SkippedAssignment } from "./domain";
import type { UserRef } from "./entities";

/** The one action that releases each guard (the guards table of README.md and docs/safety.md). */
export const RELEASE: Record<Guard, string> = {
  alerts: "split the other alerts into their own incident, then run the playbook on this one",
  status: "set the incident back to New (the app looks again) or run the playbook",
  owner: "unassign the incident or assign it to a queue (the app looks again)",
  "hold-label": "remove the label (the app looks again)",
  reopened: 'remove the "auto-remediated" label (the app looks again)',
  age: "restore the access by hand: the app does not act on incidents older than SWEEP_MAX_AGE_HOURS",
  "users-per-incident": "handle the users by hand, or raise MAX_USERS_PER_INCIDENT and run the playbook",
  "lost-access": "restore the access by hand: the incident does not say which group or application was lost",
  account: "enable the account (if that is right), then set the incident to New or run the playbook",
  risk: "dismiss or remediate the user's risk in Identity Protection, then run the playbook",
  repeat: "decide by hand: find out who keeps removing the user, and end the assignment if the removal is right",
  changed:
    "restore the access the new alert names by hand (reprocess the user's assignment), or move that alert to its own incident and run the playbook on it; the app never reprocesses a second time for one incident",
  "hourly-cap": "nothing: the app resumes it when the hourly window allows",
  "state-record":
    "check by hand whether the access was restored, then delete the incident's row from the state table (docs/reliability.md); the app then starts afresh",
};

/** The holds as one sentence (the JSON summary's message for a held incident). */
export function holdMessage(decisions: Decision[]): string {
  return `Held: ${decisions
    .filter((d) => d.result === "hold")
    .map((d) => d.reason)
    .join("; ")}.`;
}

/** The JSON answer of the webhook and of `cli replay --json`. */
export interface RemediationSummary {
  incident: { id: string; number?: number; title?: string; url?: string };
  outcome: Outcome;
  dryRun: boolean;
  users: UserRef[];
  /** Group object ids from SecurityGroup entities. */
  groups: string[];
  /** Group id → name, when the SecurityGroup entity carries a name. */
  groupNames?: Record<string, string>;
  /** Service principal ids from CloudApplication entities (an app role the user lost). Both empty: every assignment considered. */
  applications: string[];
  /** Every guard's decision (holds first). */
  decisions: Decision[];
  reprocessed: AssignmentRef[];
  /** Dry run only: what would have been reprocessed. */
  wouldReprocess: AssignmentRef[];
  skipped: SkippedAssignment[];
  failed: FailedAssignment[];
  /** Partially delivered assignments an admin should look at. */
  needsAttention: AssignmentRef[];
  /** Pairs reprocessed and seen delivered (direct group membership, or group ownership). */
  restored: Pair[];
  /** Pairs the incident names that are not (yet) restored, each with why: the incident stays open. */
  notRestored: PairNote[];
  closed: boolean;
  /** The number of the app's comment on the incident this run wrote or kept (each state change adds one). */
  update?: number;
  /** Id of the comment written on the incident, if any. */
  commentId?: string;
  /** One readable sentence: what happened and why. */
  message: string;
}

/** The project's namespace for name-based (v5) UUIDs. */
const NAMESPACE = "4f5d3a8e-2c1b-4e7a-9d6f-0b8c7a5e3d21";

/** A v5 UUID derived from its inputs, so that a repeated run upserts the same comment. */
export function stableId(...parts: string[]): string {
  return uuidv5(parts.join("\u0000"), NAMESPACE);
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

export const userLabel = (u: UserRef) => (u.name ? `${u.name} (${u.objectId})` : u.objectId);

export const assignmentLabel = (a: AssignmentRef) =>
  `${a.accessPackageName ? `"${a.accessPackageName}"` : `access package ${a.accessPackageId}`} (assignment ${a.assignmentId})`;

/** What the title does not say yet: one sentence, never repeating it. */
const HEADLINE: Record<Outcome, string> = {
  remediated: "Every membership the incident names was reprocessed and verified; classified BenignPositive.",
  "already-closed": "Nothing was done.",
  "closed-by-other": "The app did not close it and leaves its classification as it is.",
  "in-progress": "Another run of the app is working on this incident; this one did nothing.",
  "partly-restored": 'What is listed under "Not restored" needs an analyst.',
  "dry-run": "These are the decisions the app would act on; nothing was reprocessed or closed.",
  held: "A safety check held some or all users; nothing was reprocessed for them.",
  "nothing-to-reprocess": "No delivered access package assignment grants what the user lost, so automation restored nothing; review it.",
  "no-account": "No Account entity carries an Entra object id (aadUserId or objectGuid), so nothing was reprocessed.",
  "awaiting-delivery": "Reprocess requested; the app checks again and closes the incident once the membership shows.",
  capped: "MAX_USERS_RESTORED_PER_HOUR is reached; nothing was reprocessed. The app resumes the incident when the limit allows.",
  "delivery-not-seen":
    "Reprocess was requested, but Entra ID did not deliver within the time allowed; the app has stopped. Check the assignment.",
  failed: "The app could not finish.",
};

/** The outcome in a few words: the first thing an analyst reads. */
export const TITLE: Record<Outcome, string> = {
  remediated: "access restored, incident closed",
  "already-closed": "already closed",
  "closed-by-other": "closed by someone else",
  "in-progress": "another run is on it",
  "partly-restored": "not everything restored, left open",
  "dry-run": "dry run, nothing changed",
  held: "held, left open",
  "nothing-to-reprocess": "nothing to reprocess, left open",
  "no-account": "no user to restore, left open",
  "awaiting-delivery": "waiting for Entra ID to deliver",
  capped: "waiting for the hourly limit",
  "delivery-not-seen": "delivery not seen, needs an admin",
  failed: "failed, left open",
};

/** Sentinel renders incident comments as HTML; they are limited to 30,000 characters. */
const COMMENT_LIMIT = 30_000;

const decisionLabel = (d: Decision, users: UserRef[]) => {
  const user = d.userId ? users.find((u) => u.objectId === d.userId) : undefined;
  const who = d.userId ? `${user ? userLabel(user) : d.userId}: ` : "";
  return `${who}${d.reason} [${d.guard}]`;
};

/** A hold, and the one action that releases it. */
const holdLabel = (d: Decision, users: UserRef[]) => `${decisionLabel(d, users)} — to release: ${RELEASE[d.guard]}`;

/** The lists both renderings show, in order. */
function sections(s: RemediationSummary): [title: string, items: string[]][] {
  const holds = s.decisions.filter((d) => d.result === "hold");
  return [
    ["Held by safety checks", holds.map((d) => holdLabel(d, s.users))],
    ["Users", s.users.map(userLabel)],
    ["Groups the incident names", s.groups.map((g) => groupLabel(g, s))],
    ["Applications whose role the user lost (service principal ids)", s.applications],
    ["Restored and verified", s.restored.map((p) => pairLabel(p, s))],
    ["Not restored", s.notRestored.map((p) => `${pairLabel(p, s)}: ${p.reason}`)],
    ["Reprocessed", s.reprocessed.map(assignmentLabel)],
    ["Would reprocess", s.wouldReprocess.map(assignmentLabel)],
    ["Failed", s.failed.map((f) => `${assignmentLabel(f)}: ${f.error}`)],
    ["Needs an admin (partially delivered)", s.needsAttention.map(assignmentLabel)],
    ["Skipped", s.skipped.map((k) => `${assignmentLabel(k)}: ${k.reason}`)],
    // A dry run shows every check, passed ones included.
    ["Checks", s.dryRun ? s.decisions.filter((d) => d.result === "pass").map((d) => decisionLabel(d, s.users)) : []],
  ];
}

/** A group by its name when the incident's entity carries one, with its id. */
const groupLabel = (id: string, s: Pick<RemediationSummary, "groupNames">) => (s.groupNames?.[id] ? `"${s.groupNames[id]}" (${id})` : id);

function pairLabel(p: Pair, s: Pick<RemediationSummary, "users" | "groupNames">): string {
  const user = s.users.find((u) => u.objectId === p.userId);
  const target = {
    group: `group ${groupLabel(p.targetId, s)}`,
    owner: `owner of group ${groupLabel(p.targetId, s)}`,
    app: `application ${p.targetId}`,
  }[p.kind];
  return `${user ? userLabel(user) : p.userId} → ${target}`;
}

/** Each state change adds a comment (edits do not reach the Defender portal): the newest says it supersedes the rest. */
function updateNote(s: RemediationSummary): string {
  return s.update !== undefined && s.update > 1
    ? `Update ${s.update}: this comment supersedes the app's earlier comments on this incident.`
    : "";
}

/** What the comment adds to the headline: the message, less the holds it lists anyway. */
function commentNote(s: RemediationSummary): string {
  const held = holdMessage(s.decisions);
  const note = s.outcome === "held" && s.message.startsWith(held) ? s.message.slice(held.length).trim() : s.message;
  return note === HEADLINE[s.outcome] ? "" : note;
}

/** The sections that must survive a long comment first: what holds it and what is not restored. */
const FIRST = new Set(["Held by safety checks", "Not restored", "Failed"]);

export function renderComment(s: RemediationSummary): string {
  const head = [
    `<p><b>Access package remediation: ${esc(TITLE[s.outcome])}.</b> ${esc(HEADLINE[s.outcome])}</p>`,
    commentNote(s) ? `<p>${esc(commentNote(s))}</p>` : "",
    updateNote(s) ? `<p><i>${esc(updateNote(s))}</i></p>` : "",
  ].join("");
  const listed = sections(s).filter(([, items]) => items.length > 0);
  // Within Sentinel's limit, section by section (the ones that hold or leave access out first),
  // whole escaped items only: a long list ends with how many it left out, never inside an entity.
  let budget = COMMENT_LIMIT - head.length;
  const rendered = new Map<string, string>();
  const more = (n: number) => `<li>… and ${n} more (see the function's log)</li>`;
  const close = "</ul>";
  for (const [title, items] of [...listed.filter(([t]) => FIRST.has(t)), ...listed.filter(([t]) => !FIRST.has(t))]) {
    // Room is kept for the closing tag and for saying how many items were left out.
    const reserve = more(items.length).length + close.length;
    let html = `<p><b>${esc(title)}</b></p><ul>`;
    if (html.length + reserve > budget) continue;
    let shown = 0;
    for (const item of items) {
      const li = `<li>${esc(item)}</li>`;
      if (html.length + li.length + reserve > budget) break;
      html += li;
      shown++;
    }
    html += `${shown < items.length ? more(items.length - shown) : ""}${close}`;
    rendered.set(title, html);
    budget -= html.length;
  }
  return head + listed.map(([title]) => rendered.get(title) ?? "").join("");
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
  // Names come from the incident: no control or escape sequence of theirs reaches the terminal.
  return lines.map((line) => printable(line, 10_000)).join("\n");
}
