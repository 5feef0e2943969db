import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HttpRequest, InvocationContext, type HttpResponseInit } from "@azure/functions";
import { afterEach, inject } from "vitest";
import type { CallerCheck } from "../src/auth";
import type { RemediationSummary } from "../src/core/report";
import { buildDeps, type Tuning } from "../src/clients";
import { loadConfig, type Config } from "../src/config";
import { forCallsInFlight, type Deadline, type Deps, type Logger } from "../src/deps";
import { DeadlineError } from "../src/errors";
import { createRemediateHandler } from "../src/functions/remediateIncident";
import { FakeTenant } from "./fake-tenant/server";
import type { ScenarioInput } from "./fake-tenant/scenario";

export const FIXTURES = join(__dirname, "fixtures");
export const readFixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), "utf8"));

export const WORKSPACE = {
  subscriptionId: "3db968d7-cad1-4856-a953-89d2160c03a5",
  resourceGroup: "rg-sentinel",
  name: "law-sentinel-prod",
};

type State = "delivered" | "delivering" | "partiallyDelivered" | "expired" | "deliveryFailed";

/** Builds a scenario in a few readable lines. */
export class TenantBuilder {
  readonly scenario: Required<Pick<ScenarioInput, "users" | "groups" | "accessPackages" | "assignments" | "incidents">> & ScenarioInput = {
    tenantId: "c3620297-2040-43b2-a1bc-c604f7f8c54e",
    workspace: WORKSPACE,
    users: [],
    groups: [],
    accessPackages: [],
    assignments: [],
    incidents: [],
  };

  user(
    name: string,
    options: {
      accountEnabled?: boolean;
      risk?: {
        riskLevel: "low" | "medium" | "high" | "none";
        riskState: "atRisk" | "confirmedCompromised" | "dismissed" | "remediated" | "none";
      };
    } = {},
  ): string {
    const id = randomUUID();
    this.scenario.users.push({
      id,
      userPrincipalName: `${name}@contoso.example`,
      displayName: name,
      accountEnabled: options.accountEnabled ?? true,
    });
    if (options.risk) (this.scenario.riskyUsers ??= []).push({ id, ...options.risk });
    return id;
  }

  group(name: string, options: { owners?: string[] } = {}): string {
    const id = randomUUID();
    this.scenario.groups.push({ id, displayName: name, members: [], owners: options.owners ?? [] });
    return id;
  }

  /** A package granting membership of `groups`, and with `ownedGroups` ownership of those. */
  accessPackage(name: string, groups: string[], options: { catalogId?: string; apps?: string[]; ownedGroups?: string[] } = {}): string {
    const id = randomUUID();
    this.scenario.accessPackages.push({ id, displayName: name, groups, ...options });
    return id;
  }

  assign(userId: string, accessPackageId: string, state: State = "delivered"): string {
    const id = randomUUID();
    this.scenario.assignments.push({ id, userId, accessPackageId, state });
    return id;
  }

  /** A user with one delivered assignment whose access package grants one group. */
  member(name: string, options: Parameters<TenantBuilder["user"]>[1] = {}): { user: string; group: string; assignment: string } {
    const user = this.user(name, options);
    const group = this.group(`sg-${name}`);
    const assignment = this.assign(user, this.accessPackage(`P-${name}`, [group]));
    return { user, group, assignment };
  }

  /** Such a member removed from the group: the normal incident, created `minutesAgo`. */
  removal(name: string, minutesAgo = 0): { user: string; group: string; assignment: string; incident: string } {
    const m = this.member(name);
    return { ...m, incident: this.incident({ accounts: [m.user], groups: [m.group], createdMinutesAgo: minutesAgo }) };
  }

  /** An incident with Account entities (by aadUserId unless said otherwise) and SecurityGroup entities. */
  incident(options: {
    accounts?: ({ aadUserId?: string; objectGuid?: string; accountName?: string } | string)[];
    groups?: string[];
    /** Service principal ids of applications whose role the user lost (CloudApplication entities). */
    applications?: string[];
    status?: "New" | "Active" | "Closed";
    ruleIds?: string[];
    productNames?: string[];
    /** false: additionalData does not list the alerts' products (a Defender-portal incident). */
    listsProducts?: boolean;
    /** additionalData.alertsCount, when it should differ from the alerts listed. */
    alertsCount?: number;
    owner?: { assignedTo: string; ownerType: "User" | "Group" | "Unknown"; objectId?: string };
    labels?: string[];
    createdMinutesAgo?: number;
    modifiedMinutesAgo?: number;
  }): string {
    const name = randomUUID();
    const accounts = (options.accounts ?? []).map((a) => ({
      kind: "Account",
      properties: typeof a === "string" ? { aadUserId: a, accountName: "user", upnSuffix: "contoso.example" } : a,
    }));
    const groups = (options.groups ?? []).map((g) => ({ kind: "SecurityGroup", properties: { objectGuid: g } }));
    const apps = (options.applications ?? []).map((app) => ({
      kind: "CloudApplication",
      properties: { appName: "Contoso Expenses", instanceName: app },
    }));
    this.scenario.incidents.push({
      name,
      number: this.scenario.incidents.length + 1,
      title: "User removed from group or app role by hand",
      status: options.status ?? "New",
      ruleIds: options.ruleIds ?? [RULE_ID],
      ...(options.productNames ? { productNames: options.productNames } : {}),
      ...(options.listsProducts !== undefined ? { listsProducts: options.listsProducts } : {}),
      ...(options.alertsCount !== undefined ? { alertsCount: options.alertsCount } : {}),
      ...(options.owner ? { owner: options.owner } : {}),
      labels: (options.labels ?? []).map((labelName) => ({ labelName, labelType: "User" as const })),
      createdMinutesAgo: options.createdMinutesAgo ?? 0,
      ...(options.modifiedMinutesAgo !== undefined ? { modifiedMinutesAgo: options.modifiedMinutesAgo } : {}),
      entities: [...accounts, ...groups, ...apps, { kind: "Ip", properties: { address: "203.0.113.24" } }],
    });
    return name;
  }
}

export const RULE_ID = "ef7869b2-7a80-4ed3-ad63-546ce5953647";
/** The owner-removal detection (SENTINEL_OWNER_RULE_IDS). */
export const OWNER_RULE_ID = "3c0e9f4a-6b1d-4e2a-9f7c-8d5b2a1e0c43";

export interface CapturedLog extends Logger {
  lines: string[];
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}

/**
 * The app settings for a fake tenant: its endpoints and credentials, the removal rule, and a
 * table of its own in the shared Azurite (so tests never see each other's state).
 */
export function settingsFor(fake: FakeTenant, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...fake.settings(),
    SENTINEL_RULE_IDS: RULE_ID,
    STATE_TABLE_CONNECTION: inject("stateConnection"),
    STATE_TABLE_NAME: `t${randomUUID().replace(/-/g, "")}`,
    ...extra,
  };
}

/** Short timeouts and few attempts, so that fault tests finish quickly. */
/** Tests keep the real timeouts' order of magnitude but not the production backoff between retries. */
export const FAST: Tuning = { requestTimeoutMs: 2_000, attempts: 3, retryDelayMs: 50 };

export function depsFor(fake: FakeTenant, extra: Record<string, string> = {}, tuning: Tuning = FAST): Deps {
  return buildDeps(loadConfig(settingsFor(fake, extra)), undefined, tuning);
}

export interface Called {
  status: number;
  body: any;
  logs: string[];
  headers: Record<string, string>;
}

/**
 * A deadline the test ends itself (from a fake tenant trigger, say), so that a test of what the
 * deadline stops never races the clock: `start` is the handler's, `pass()` makes it pass now.
 */
export function forcedDeadline(): { start: () => Deadline; pass: () => void } {
  const controller = new AbortController();
  forCallsInFlight(controller.signal);
  return {
    start: () => ({ signal: controller.signal, clear: () => controller.abort(new Error("the run has answered")) }),
    pass: () => controller.abort(new DeadlineError(100)),
  };
}

/** Calls the real handler with a real HttpRequest, as the Functions host would. */
export async function callWebhook(
  deps: Deps | (() => Deps),
  body: unknown,
  init: { contentType?: string; raw?: string; deadline?: () => Deadline; checkCaller?: CallerCheck; headers?: Record<string, string> } = {},
): Promise<Called> {
  const logs: string[] = [];
  const handler = createRemediateHandler(typeof deps === "function" ? deps : () => deps, {
    ...(init.checkCaller ? { checkCaller: init.checkCaller } : {}),
    ...(init.deadline ? { startDeadline: init.deadline } : {}),
  });
  const request = new HttpRequest({
    method: "POST",
    url: "https://app.example/api/remediateIncident",
    headers: { "content-type": init.contentType ?? "application/json", ...init.headers },
    body: { string: init.raw ?? JSON.stringify(body) },
  });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: "remediateIncident",
    logHandler: (level, ...args) => logs.push(`${level} ${args.map(String).join(" ")}`),
  });
  const response: HttpResponseInit = await handler(request, context);
  return { status: response.status ?? 200, body: response.jsonBody, logs, headers: (response.headers ?? {}) as Record<string, string> };
}

/** An incident's comments as text, oldest first (Sentinel comments are HTML; the app escapes what it writes). */
export const commentsOf = (f: FakeTenant, incident: string): string =>
  [...(f.incidents.get(incident)?.comments.values() ?? [])]
    .sort((a, b) => a.createdTimeUtc.localeCompare(b.createdTimeUtc))
    .map((c) =>
      c.message
        .replace(/<[^>]+>/g, " ")
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&amp;/g, "&"),
    )
    .join("\n");

/** Requests the fake received for one service, as "METHOD path-tail status". */
export function requestsOf(fake: FakeTenant, service: "graph" | "arm" | "login"): string[] {
  return fake.requests
    .filter((r) => r.service === service)
    .map((r) => `${r.method} ${r.path.replace(/^.*\/(identityGovernance|providers\/Microsoft\.SecurityInsights)/, "")} ${r.status}`);
}

/** A summary of an incident with nothing in it (no users, decisions or pairs), and `over` on top. */
export function summaryOf(over: Partial<RemediationSummary> = {}): RemediationSummary {
  return {
    incident: { id: "i1" },
    outcome: "held",
    dryRun: false,
    users: [],
    groups: [],
    applications: [],
    decisions: [],
    reprocessed: [],
    wouldReprocess: [],
    skipped: [],
    failed: [],
    needsAttention: [],
    restored: [],
    notRestored: [],
    closed: false,
    message: "",
    ...over,
  };
}

/** The configuration of the test workspace and removal rule, with Azurite's table, and `extra` settings on top. */
export function testConfig(extra: Record<string, string> = {}): Config {
  return loadConfig({
    SENTINEL_SUBSCRIPTION_ID: WORKSPACE.subscriptionId,
    SENTINEL_RESOURCE_GROUP: WORKSPACE.resourceGroup,
    SENTINEL_WORKSPACE_NAME: WORKSPACE.name,
    SENTINEL_RULE_IDS: RULE_ID,
    STATE_TABLE_CONNECTION: "UseDevelopmentStorage=true",
    ...extra,
  });
}

/**
 * One fake tenant per test: the returned `start` runs it from a builder's scenario (with
 * `overrides` on top), and it is closed after the test.
 */
export function fakeTenantPerTest(): (t: { scenario: ScenarioInput }, overrides?: Partial<ScenarioInput>) => Promise<FakeTenant> {
  let fake: FakeTenant | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });
  return async (t, overrides = {}) => {
    fake = await FakeTenant.start({ scenario: { ...t.scenario, ...overrides } });
    return fake;
  };
}

/** Deps whose every Graph, Sentinel or state call is recorded in `calls` and fails: for input that must reach none. */
export function trapDeps(calls: string[]): Deps {
  const trap = (name: string) => async () => {
    calls.push(name);
    throw new Error(`${name} must not be called`);
  };
  return {
    config: testConfig(),
    graph: {
      listAssignments: trap("graph.listAssignments"),
      grantsOf: trap("graph.grantsOf"),
      reprocess: trap("graph.reprocess"),
      getUser: trap("graph.getUser"),
      getRisk: trap("graph.getRisk"),
      directGroups: trap("graph.directGroups"),
      ownedGroups: trap("graph.ownedGroups"),
      probe: trap("graph.probe"),
    },
    sentinel: {
      getIncident: trap("sentinel.getIncident"),
      listEntities: trap("sentinel.listEntities"),
      listAlertProducts: trap("sentinel.listAlertProducts"),
      getAlertRule: trap("sentinel.getAlertRule"),
      listAutomationRules: trap("sentinel.listAutomationRules"),
      listNewIncidents: trap("sentinel.listNewIncidents"),
      upsertComment: trap("sentinel.upsertComment"),
      closeIncident: trap("sentinel.closeIncident"),
    },
    store: {
      read: trap("store.read"),
      claim: trap("store.claim"),
      save: trap("store.save"),
      reserveRestores: trap("store.reserveRestores"),
      releaseRestores: trap("store.releaseRestores"),
      restoresOf: trap("store.restoresOf"),
      noteRestores: trap("store.noteRestores"),
      probe: trap("store.probe"),
      listRecords: trap("store.listRecords"),
      windowUse: trap("store.windowUse"),
      noteSweep: trap("store.noteSweep"),
      lastSweep: trap("store.lastSweep"),
    },
    now: Date.now,
  };
}
