import { sameName as same, type Config, type WorkspaceRef } from "../config";
import { messageOf, RequestError, UpstreamError } from "../errors";
import type { Assignment, GraphGateway } from "../graph";
import type { IncidentPointer } from "../incident";
import type { IncidentState, SentinelGateway } from "../sentinel";
import { mapLimit } from "./concurrency";
import { extractEntities } from "./entities";
import { planReprocess } from "./plan";
import { headline, renderComment, stableId, type FailedAssignment, type Outcome, type RemediationSummary } from "./report";

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Long-lived dependencies, built once per instance (src/clients.ts). */
export interface Deps {
  config: Pick<Config, "workspace" | "allowedRuleIds" | "dryRun">;
  graph: GraphGateway;
  sentinel: SentinelGateway;
}

/**
 * Independent Graph calls in flight at once for one incident: up to 20 assignments are
 * reprocessed in one wave (20 is also Graph's JSON batch size). The Graph gateway caps the
 * whole instance's requests in flight on top of this.
 */
export const GRAPH_CONCURRENCY = 20;

/**
 * The whole remediation for one incident pointer. Throws RequestError for pointers we refuse
 * (before anything is changed) and UpstreamError when Graph or Sentinel fail; every other
 * result, including reprocess failures, is reported in the returned summary.
 */
export async function remediateIncident(
  pointer: IncidentPointer,
  deps: Deps,
  log: Logger,
  options: { dryRun?: boolean } = {},
): Promise<RemediationSummary> {
  const { config, graph, sentinel } = deps;
  const dryRun = options.dryRun ?? config.dryRun;
  assertSameWorkspace(pointer.workspace, config.workspace);

  const early = readAhead(pointer, deps);
  // Entities are read alongside the incident: a read, harmless even when the checks below refuse.
  const [incident, entities] = await Promise.all([
    sentinel.getIncident(pointer.incidentId),
    sentinel.listEntities(pointer.incidentId).catch((error: unknown) => error as Error),
  ]);
  if (!incident) {
    throw new RequestError("IncidentNotFound", `Incident ${pointer.incidentId} does not exist in workspace ${config.workspace.name}`);
  }
  if (config.allowedRuleIds.length > 0 && !incident.ruleIds.some((r) => config.allowedRuleIds.includes(r))) {
    throw new RequestError(
      "RuleNotAllowed",
      `Incident ${pointer.incidentId} was not created by an analytics rule listed in SENTINEL_RULE_IDS; nothing was done`,
    );
  }
  const summary = emptySummary(incident, dryRun);
  if (incident.status === "Closed") {
    log.info(`incident ${incident.name}: already closed, nothing to do`);
    return finish(summary, "already-closed", { closed: true });
  }

  if (entities instanceof Error) throw entities;
  const { users, groups, unusableAccounts } = extractEntities(entities);
  summary.users = users;
  summary.groups = groups;
  log.info(`incident ${incident.name}: ${users.length} user(s), ${groups.length} group(s), ${unusableAccounts.length} account(s) without an Entra id`);
  if (users.length === 0) {
    return comment(deps, log, finish(summary, "no-account"));
  }

  let plan;
  try {
    const perUser = await Promise.all(
      users.map(async (u) => ({ userId: u.objectId, assignments: await (early.get(u.objectId) ?? graph.listAssignments(u.objectId)) })),
    );
    const packageIds = [...new Set(perUser.flatMap((u) => u.assignments.map((a) => a.accessPackageId)))];
    const grants = new Map<string, string[]>();
    if (groups.length > 0) {
      const answers = await mapLimit(packageIds, GRAPH_CONCURRENCY, (id) => graph.groupsGrantedBy(id));
      answers.forEach((answer, i) => {
        if (answer.status === "rejected") throw answer.reason;
        grants.set(packageIds[i] as string, answer.value);
      });
    }
    plan = planReprocess(perUser, groups, grants);
  } catch (error) {
    if (error instanceof UpstreamError) await commentUpstreamFailure(deps, log, summary, error);
    throw error;
  }
  summary.skipped = plan.skipped;
  summary.needsAttention = plan.attention;
  log.info(`incident ${incident.name}: ${plan.reprocess.length} to reprocess, ${plan.skipped.length} skipped`);

  if (dryRun) {
    summary.wouldReprocess = plan.reprocess;
    return comment(deps, log, finish(summary, "dry-run"));
  }

  const results = await mapLimit(plan.reprocess, GRAPH_CONCURRENCY, (a) => graph.reprocess(a.assignmentId));
  results.forEach((result, i) => {
    const a = plan.reprocess[i];
    if (!a) return;
    if (result.status === "rejected") {
      const error = messageOf(result.reason);
      summary.failed.push({ ...a, error } satisfies FailedAssignment);
    } else if (result.value === "notFound") {
      summary.skipped.push({ ...a, reason: "assignment no longer exists (Graph answered 404 to reprocess)" });
    } else {
      summary.reprocessed.push(a);
    }
  });
  log.info(
    `incident ${incident.name}: reprocessed ${summary.reprocessed.length}, failed ${summary.failed.length}, skipped ${summary.skipped.length}`,
  );

  const outcome: Outcome =
    summary.failed.length > 0 ? "failed" : summary.reprocessed.length > 0 ? "remediated" : "nothing-to-reprocess";
  await comment(deps, log, finish(summary, outcome));
  if (outcome === "remediated") {
    const closedBy = await sentinel.closeIncident(
      incident.name,
      { classificationComment: `Access restored automatically: reprocessed ${summary.reprocessed.length} access package assignment(s).` },
      incident,
    );
    summary.closed = true;
    log.info(`incident ${incident.name}: ${closedBy === "closed" ? "closed as BenignPositive" : "was closed meanwhile"}`);
  }
  return summary;
}

/**
 * Starts listing the assignments of the users the body names while Sentinel is re-read, which
 * saves a sequential round trip. These are reads only, and a result is used only for a user that
 * Sentinel's own entities name (the caller looks it up by the re-read user's id). Nothing starts
 * when the body names no allowed analytics rule.
 */
function readAhead(pointer: IncidentPointer, deps: Deps): Map<string, Promise<Assignment[]>> {
  const claimed = pointer.claimed;
  const allowed = deps.config.allowedRuleIds;
  if (!claimed || (allowed.length > 0 && !claimed.ruleIds.some((r) => allowed.includes(r)))) return new Map();
  const users = extractEntities(claimed.entities).users.slice(0, GRAPH_CONCURRENCY);
  return new Map(
    users.map((u) => {
      const reading = deps.graph.listAssignments(u.objectId);
      reading.catch(() => undefined); // an unused read may fail unobserved; a used one is awaited
      return [u.objectId, reading] as const;
    }),
  );
}

function assertSameWorkspace(sent: WorkspaceRef, configured: WorkspaceRef): void {
  if (
    !same(sent.subscriptionId, configured.subscriptionId) ||
    !same(sent.resourceGroup, configured.resourceGroup) ||
    !same(sent.name, configured.name)
  ) {
    throw new RequestError(
      "WorkspaceMismatch",
      `The incident belongs to workspace ${sent.subscriptionId}/${sent.resourceGroup}/${sent.name}, ` +
        `not the configured workspace (SENTINEL_SUBSCRIPTION_ID / SENTINEL_RESOURCE_GROUP / SENTINEL_WORKSPACE_NAME)`,
    );
  }
}

function emptySummary(incident: IncidentState, dryRun: boolean): RemediationSummary {
  return {
    incident: {
      id: incident.name,
      ...(incident.incidentNumber !== undefined ? { number: incident.incidentNumber } : {}),
      title: incident.title,
      ...(incident.incidentUrl ? { url: incident.incidentUrl } : {}),
    },
    outcome: "nothing-to-reprocess",
    dryRun,
    users: [],
    groups: [],
    reprocessed: [],
    wouldReprocess: [],
    skipped: [],
    failed: [],
    needsAttention: [],
    closed: false,
    message: "",
  };
}

function finish(summary: RemediationSummary, outcome: Outcome, extra: Partial<RemediationSummary> = {}): RemediationSummary {
  return Object.assign(summary, { outcome, message: headline(outcome) }, extra);
}

/**
 * Writes the summary as an incident comment. The comment id is derived from the incident and
 * the outcome, so a repeated delivery replaces its own comment instead of adding another.
 */
async function comment(deps: Deps, log: Logger, summary: RemediationSummary): Promise<RemediationSummary> {
  const commentId = stableId(summary.incident.id, summary.outcome);
  await deps.sentinel.upsertComment(summary.incident.id, commentId, renderComment(summary));
  summary.commentId = commentId;
  log.info(`incident ${summary.incident.id}: comment ${commentId} written (${summary.outcome})`);
  return summary;
}

/** Graph refused or failed: say so on the incident (what failed, which permission) before answering 5xx. */
async function commentUpstreamFailure(deps: Deps, log: Logger, summary: RemediationSummary, error: UpstreamError): Promise<void> {
  try {
    await comment(deps, log, finish(summary, "failed", { message: error.message }));
  } catch (commentError) {
    const detail = messageOf(commentError);
    log.warn(`incident ${summary.incident.id}: could not comment the failure: ${detail}`);
  }
}
