/**
 * The world simulation: the real pipeline (remediateIncident, the sweeper) with the real clients
 * (Graph client, ARM SDK, identity credential) against the fake tenant served in process, and an
 * in-memory state table with the real one's etags and conditional writes. At every outgoing call
 * (Graph, ARM, table) the seeded world may change: an alert merges with new pairs, a hold label,
 * a person (any owner type), Active, a close (TruePositive or BenignPositive), a reopen, the
 * membership removed again, the user disabled or marked risky, the call failed or stalled, the run
 * aborted (a crash) and a retry, the sweeper or a second instance started. After every schedule
 * the invariants of docs/safety.md are checked (see `violations`).
 */
import { ClientSecretCredential } from "@azure/identity";
import type { TableClient } from "@azure/data-tables";
import { setImmediate as tick } from "node:timers/promises";
import { buildDeps } from "../../src/clients";
import { loadConfig, type Config } from "../../src/config";
import { remediateIncident } from "../../src/core/remediate";
import type { Outcome } from "../../src/core/domain";
import { stableId, TITLE } from "../../src/core/report";
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import { forCallsInFlight, WEBHOOK_DEADLINE_MS, type Deps, type Logger } from "../../src/deps";
import { messageOf } from "../../src/errors";
import { createTableStore, type IncidentRecord } from "../../src/store";
import { FakeTenant, type InProcessCall } from "../fake-tenant/server";
import type { ScenarioInput } from "../fake-tenant/scenario";
import { SimTable } from "./table";
import { httpClientOf } from "./transport";

/** The world changes a schedule can draw at a call, with their weights. */
export const CHANGES = {
  "merge-alert": 3,
  "merge-foreign-alert": 1,
  "hold-label": 2,
  "assign-person": 2,
  "set-active": 1,
  "close-true-positive": 1,
  "close-benign-positive": 1,
  reopen: 1,
  "remove-membership": 2,
  "disable-user": 1,
  "mark-risky": 1,
  "fail-call": 3,
  "stall-call": 3,
  crash: 3,
  "second-instance": 2,
  sweeper: 2,
} as const;
export type Change = keyof typeof CHANGES;

/** Chance that the world changes at a call; at most this many changes and runs per schedule. */
const CHANGE_CHANCE = 0.12;
const MAX_CHANGES = 8;
const MAX_RUNS = 6;
/** Users the hourly cap lets the app restore (the incidents name up to 3). */
const CAP = 2;
const HOLD_LABEL = "No-Auto-Remediation";
const RULE = "ef7869b2-7a80-4ed3-ad63-546ce5953647";
const TENANT = "c3620297-2040-43b2-a1bc-c604f7f8c54e";
const WORKSPACE = { subscriptionId: "5f0a3bd5-2f1c-4e38-9d0b-7a8c1e2d3f40", resourceGroup: "rg-sec", name: "law-sec" };

export interface ScheduleResult {
  seed: number;
  violations: string[];
  /** What happened, call by call: the steps to reproduce it. */
  trace: string[];
  changes: Partial<Record<Change, number>>;
  calls: number;
  runs: number;
}

/** A small seeded generator (mulberry32): the same seed draws the same world. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const guidFrom = (rng: () => number) => "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx".replace(/x/g, () => Math.floor(rng() * 16).toString(16));

interface Reprocess {
  seq: number;
  caller: string;
  assignmentId: string;
}

/** One schedule: a world, the runs on its one incident, and what the invariants need to know. */
class Schedule {
  readonly rng: () => number;
  readonly fake: FakeTenant;
  readonly config: Config;
  readonly table: SimTable;
  readonly trace: string[] = [];
  readonly violations: string[] = [];
  readonly changes: Partial<Record<Change, number>> = {};
  readonly outputs: string[] = [];
  readonly incidentId: string;
  readonly users: string[];
  readonly groups: string[];
  /** assignment id → its user and the groups its package grants. */
  readonly grants = new Map<string, { userId: string; groups: string[] }>();
  private readonly controllers = new Map<string, { controller: AbortController; endsAt: number }>();
  /** Runs a crash left for later: a retry, the sweeper or another instance, once the others ended. */
  private readonly later: ("retry" | "sweeper" | "instance")[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly badReads = new Map<string, string>();
  private readonly badUsers = new Map<string, Map<string, string>>();
  private readonly lastPlanningRead = new Map<string, number>();
  private readonly incidentReads = new Map<string, number[]>();
  private readonly reprocesses: Reprocess[] = [];
  /** `${userId} ${groupId}` → seqs of member reads that showed the user in the group. */
  private readonly seenMember = new Map<string, number[]>();
  private seq = 0;
  private changeCount = 0;
  private runCount = 0;
  private clock: number;

  constructor(readonly seed: number) {
    this.rng = random(seed);
    const rng = this.rng;
    this.users = [0, 1, 2, 3].map(() => guidFrom(rng));
    this.groups = [0, 1, 2].map(() => guidFrom(rng));
    const [g0, g1, g2] = this.groups as [string, string, string];
    const packages = [
      { id: guidFrom(rng), displayName: "Finance reports", groups: [g0] },
      { id: guidFrom(rng), displayName: "Finance and audit", groups: [g0, g1] },
    ];
    const assignments = this.users.flatMap((userId) =>
      packages.map((p) => ({ id: guidFrom(rng), userId, accessPackageId: p.id, state: "delivered" as const })),
    );
    for (const a of assignments) {
      this.grants.set(a.id, { userId: a.userId, groups: packages.find((p) => p.id === a.accessPackageId)?.groups ?? [] });
    }
    this.incidentId = guidFrom(rng);
    const named = [this.users[0] as string, ...(rng() < 0.3 ? [this.users[1] as string] : [])];
    const lost = [g0, ...(rng() < 0.3 ? [rng() < 0.5 ? g1 : g2] : [])];
    const scenario: ScenarioInput = {
      tenantId: TENANT,
      workspace: WORKSPACE,
      users: this.users.map((id, n) => ({ id, userPrincipalName: `user${n}@contoso.example`, displayName: `User ${n}` })),
      groups: this.groups.map((id, n) => ({
        id,
        displayName: `sg-${n}`,
        // Everyone else keeps the group; the named users lost it.
        members: this.users.filter((u) => !named.includes(u) && n < 2),
      })),
      accessPackages: packages,
      assignments,
      alertRules: [{ id: RULE }],
      incidents: [
        {
          name: this.incidentId,
          number: 1000 + (seed % 1000),
          title: "User removed from group by hand",
          ruleIds: [RULE],
          listsProducts: rng() < 0.7,
          createdMinutesAgo: Math.floor(rng() * 60),
          entities: [...named.map((u) => account(u)), ...lost.map((g) => securityGroup(g))],
        },
      ],
    };
    this.fake = FakeTenant.inProcess(scenario);
    const settings = this.fake.settings();
    this.config = loadConfig({
      ...settings,
      NODE_EXTRA_CA_CERTS: "",
      SENTINEL_RULE_IDS: RULE,
      STATE_TABLE_CONNECTION: "UseDevelopmentStorage=true",
      MAX_USERS_RESTORED_PER_HOUR: String(CAP),
      DELIVERY_CHECK_SECONDS: "0",
      NO_AUTO_REMEDIATION_LABEL: HOLD_LABEL,
    });
    this.clock = Date.now();
    this.table = new SimTable(async () => undefined);
    this.fake.beforeServe = (call) => this.beforeServe(call);
    this.fake.afterServe = (call) => this.afterServe(call);
  }

  /** Runs the schedule to its end: the webhook's run, then whatever the world started. */
  async play(): Promise<void> {
    this.start("webhook");
    for (let round = 0; (this.running.size > 0 || this.later.length > 0) && round < 100; round++) {
      await Promise.all([...this.running]);
      if (this.running.size === 0 && this.later.length > 0) {
        // Minutes later: the crashed run's lease has run out.
        this.clock += 4 * 60_000;
        this.start(this.later.shift() as "retry" | "sweeper" | "instance");
      }
    }
    this.checkRecord();
    this.checkSecrets();
  }

  // ───────────────────────────── runs ─────────────────────────────

  private start(kind: "webhook" | "retry" | "instance" | "sweeper"): void {
    if (this.runCount >= MAX_RUNS) return;
    const name = `${kind}#${++this.runCount}`;
    const controller = new AbortController();
    forCallsInFlight(controller.signal);
    // The run's deadline, on the simulated clock: the webhook's, or the sweeper's per incident.
    this.controllers.set(name, {
      controller,
      endsAt: this.clock + (kind === "sweeper" ? SWEEP_DEFAULTS.perIncidentMs : WEBHOOK_DEADLINE_MS),
    });
    const log: Logger = {
      debug: (m) => this.outputs.push(m),
      info: (m) => this.outputs.push(m),
      warn: (m) => this.outputs.push(m),
      error: (m) => this.outputs.push(m),
    };
    const deps = this.depsFor(name);
    this.trace.push(`start ${name}`);
    const work = (async () => {
      // Each run starts on its own turn, as a separate invocation would.
      await tick();
      if (kind === "sweeper") {
        const swept = await sweepOpenIncidents(deps, log, controller.signal, SWEEP_DEFAULTS);
        const ran = Object.keys(swept.ran).join(", ");
        return `swept: ${ran || [...swept.failed.map(() => "failed"), ...swept.skipped.map(() => "skipped"), ...swept.recent.map(() => "too recent")].join(", ") || "nothing due"}`;
      }
      const summary = await remediateIncident(
        { incidentId: this.incidentId, armId: "", workspace: this.config.workspace },
        deps,
        log,
        controller.signal,
      );
      this.outputs.push(summary.message);
      return summary.outcome;
    })().then(
      (outcome) => this.trace.push(`end ${name}: ${outcome}`),
      (error: unknown) => {
        this.outputs.push(messageOf(error));
        this.trace.push(`end ${name}: error ${messageOf(error).slice(0, 160)}`);
      },
    );
    const tracked: Promise<void> = work.then(() => void this.running.delete(tracked));
    this.running.add(tracked);
  }

  private depsFor(caller: string): Deps {
    const send = this.fake.fetchAs(caller);
    const httpClient = httpClientOf(send);
    const credential = new ClientSecretCredential(TENANT, this.fake.clientId, this.fake.clientSecret, {
      authorityHost: this.fake.urls.login,
      disableInstanceDiscovery: true,
      httpClient,
    });
    const deps = buildDeps(this.config, credential, { attempts: 1, fetch: send, httpClient });
    const table = this.table.as((what, signal) => this.step(caller, "table", what, signal));
    return {
      ...deps,
      store: createTableStore(table as unknown as TableClient, { attempts: 1 }),
      now: () => this.clock,
    };
  }

  // ───────────────────────────── the world ─────────────────────────────

  private async beforeServe(call: InProcessCall): Promise<void> {
    if (call.service === "login") return;
    await this.step(call.caller, call.service, `${call.method} ${call.url.pathname}`, undefined, call.url.pathname);
  }

  /** One outgoing call: the clock moves, and the world may change before it is served. */
  private async step(caller: string, service: string, what: string, signal: AbortSignal | undefined, path = ""): Promise<void> {
    this.clock += 1000;
    for (const [name, run] of this.controllers) {
      if (this.clock > run.endsAt && !run.controller.signal.aborted) {
        run.controller.abort(new Error("the run's deadline passed"));
        this.trace.push(`  ${name}: deadline passed`);
      }
    }
    this.trace.push(`${caller} ${service} ${what.replace(/\/subscriptions\/.*\/providers\/Microsoft\.SecurityInsights/i, "…")}`);
    if (this.changeCount >= MAX_CHANGES || this.rng() >= CHANGE_CHANCE) return;
    const change = this.draw();
    this.changeCount++;
    this.changes[change] = (this.changes[change] ?? 0) + 1;
    this.trace.push(`  world: ${change}`);
    await this.apply(change, { caller, service, path, signal });
  }

  private draw(): Change {
    const entries = Object.entries(CHANGES) as [Change, number][];
    let r = this.rng() * entries.reduce((a, [, w]) => a + w, 0);
    for (const [change, weight] of entries) if ((r -= weight) < 0) return change;
    return entries[0]?.[0] as Change;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rng() * items.length)] as T;
  }

  private async apply(
    change: Change,
    at: { caller: string; service: string; path: string; signal: AbortSignal | undefined },
  ): Promise<void> {
    const { caller, service, path, signal } = at;
    const edit = (fn: Parameters<FakeTenant["editIncident"]>[1]) => this.fake.editIncident(this.incidentId, fn);
    switch (change) {
      case "merge-alert":
      case "merge-foreign-alert":
        return edit((i) => {
          i.entities.push(account(this.pick(this.users.slice(0, 3))), securityGroup(this.pick(this.groups)));
          i.productNames.push(change === "merge-alert" ? "Azure Sentinel" : "Microsoft Defender for Identity");
          if (i.alertsCount !== undefined) i.alertsCount++;
        });
      case "hold-label":
        return edit((i) => i.labels.push({ labelName: HOLD_LABEL, labelType: "User" }));
      case "assign-person": {
        const ownerType = this.pick(["User", "Unknown", undefined, "Group"] as const);
        return edit((i) => {
          i.owner = {
            objectId: guidFrom(this.rng),
            assignedTo: "Ana Analyst",
            email: "ana@contoso.example",
            ...(ownerType ? { ownerType } : {}),
          };
        });
      }
      case "set-active":
        return edit((i) => void (i.status = i.status === "Closed" ? i.status : "Active"));
      case "close-true-positive":
      case "close-benign-positive":
        return edit((i) => {
          i.status = "Closed";
          i.classification = change === "close-true-positive" ? "TruePositive" : "BenignPositive";
        });
      case "reopen":
        return edit((i) => void (i.status = i.status === "Closed" ? "Active" : i.status));
      case "remove-membership":
        this.fake.members.get(this.pick(this.groups))?.delete(this.pick(this.users.slice(0, 3)));
        return;
      case "disable-user": {
        const user = this.fake.scenario.users.find((u) => u.id === this.pick(this.users.slice(0, 3)));
        if (user) user.accountEnabled = false;
        return;
      }
      case "mark-risky":
        this.fake.scenario.riskyUsers.push({ id: this.pick(this.users.slice(0, 3)), riskLevel: "high", riskState: "atRisk" });
        return;
      case "fail-call":
        if (service === "table") throw Object.assign(new Error("The server is busy."), { statusCode: 503 });
        this.fake.addFault({
          service: service as "graph" | "arm",
          path: `^${escapeRegExp(path)}$`,
          times: 1,
          status: 503,
        });
        return;
      case "stall-call":
        for (let n = Math.floor(this.rng() * 20); n >= 0 && !signal?.aborted; n--) await tick();
        return;
      case "crash": {
        const controller = this.controllers.get(caller)?.controller;
        if (!controller || controller.signal.aborted) return;
        controller.abort(new Error("the instance stopped (simulated crash)"));
        this.later.push(this.pick(["retry", "sweeper", "instance"] as const));
        return;
      }
      case "second-instance":
        return this.start("instance");
      case "sweeper":
        return this.start("sweeper");
    }
  }

  // ───────────────────────────── invariants ─────────────────────────────

  private afterServe(call: InProcessCall & { status: number; answer: unknown }): void {
    const seq = ++this.seq;
    const { caller, service, method, url, status } = call;
    const path = url.pathname;
    const answer = (call.answer ?? {}) as Record<string, unknown>;
    if (service === "arm" && method === "GET" && status === 200 && /\/incidents\/[^/]+$/i.test(path)) {
      this.incidentReads.set(caller, [...(this.incidentReads.get(caller) ?? []), seq]);
      const bad = holdIn(answer.properties as IncidentProps, HOLD_LABEL);
      if (bad && !this.badReads.has(caller)) this.badReads.set(caller, bad);
    }
    if (service === "graph" && method === "GET" && status === 200) {
      if (path.includes("/entitlementManagement/")) this.lastPlanningRead.set(caller, seq);
      const user = /^\/v1\.0\/users\/([^/]+)$/.exec(path)?.[1];
      if (user && answer.accountEnabled === false) this.noteBadUser(caller, user, "disabled");
      const risky = /^\/v1\.0\/identityProtection\/riskyUsers\/([^/]+)$/.exec(path)?.[1];
      if (risky && (answer.riskLevel === "high" || ["atRisk", "confirmedCompromised"].includes(String(answer.riskState)))) {
        this.noteBadUser(caller, risky, "at risk");
      }
      const group = /^\/v1\.0\/groups\/([^/]+)\/members$/.exec(path)?.[1];
      for (const m of group ? ((answer.value ?? []) as { id: string }[]) : []) {
        const key = `${m.id.toLowerCase()} ${group?.toLowerCase()}`;
        this.seenMember.set(key, [...(this.seenMember.get(key) ?? []), seq]);
      }
    }
    const reprocess = /\/assignments\/([^/]+)\/reprocess$/.exec(path)?.[1];
    if (service === "graph" && method === "POST" && reprocess && status === 202) this.onReprocess({ seq, caller, assignmentId: reprocess });
    const props = answer.properties as IncidentProps | undefined;
    if (service === "arm" && method === "PUT" && status === 200 && /\/incidents\/[^/]+$/i.test(path) && props?.status === "Closed") {
      if (props.classification === "BenignPositive") this.onClose(seq, caller);
    }
  }

  private noteBadUser(caller: string, userId: string, why: string): void {
    const seen = this.badUsers.get(caller) ?? new Map<string, string>();
    seen.set(userId.toLowerCase(), why);
    this.badUsers.set(caller, seen);
  }

  private violation(text: string): void {
    this.violations.push(text);
    this.trace.push(`  VIOLATION: ${text}`);
  }

  /** No reprocess after a hold was visible to this run; a fresh read after the planning; one wave; the cap. */
  private onReprocess(r: Reprocess): void {
    const bad = this.badReads.get(r.caller);
    if (bad) this.violation(`${r.caller} reprocessed ${r.assignmentId} after one of its reads showed ${bad}`);
    const userId = this.grants.get(r.assignmentId)?.userId ?? "";
    const badUser = this.badUsers.get(r.caller)?.get(userId);
    if (badUser) this.violation(`${r.caller} reprocessed ${r.assignmentId} of a user one of its reads showed ${badUser}`);
    const planned = this.lastPlanningRead.get(r.caller) ?? 0;
    if (!(this.incidentReads.get(r.caller) ?? []).some((s) => s > planned && s < r.seq)) {
      this.violation(`${r.caller} reprocessed ${r.assignmentId} without reading the incident again after its planning reads`);
    }
    if (this.reprocesses.some((p) => p.assignmentId === r.assignmentId)) this.violation(`assignment ${r.assignmentId} reprocessed twice`);
    this.reprocesses.push(r);
    const users = new Set(this.reprocesses.map((p) => this.grants.get(p.assignmentId)?.userId));
    if (users.size > CAP) this.violation(`${users.size} users restored in the hour, more than the cap of ${CAP}`);
  }

  /** Closed BenignPositive by the app ⇒ every pair the incident names was reprocessed and seen delivered after it. */
  private onClose(seq: number, caller: string): void {
    const incident = this.fake.incidents.get(this.incidentId);
    if (!incident) return;
    const users = incident.entities.filter((e) => e.kind === "Account").map((e) => String(e.properties.aadUserId).toLowerCase());
    const groups = incident.entities.filter((e) => e.kind === "SecurityGroup").map((e) => String(e.properties.objectGuid).toLowerCase());
    for (const u of new Set(users)) {
      for (const g of new Set(groups)) {
        const waves = this.reprocesses.filter((r) => {
          const grant = this.grants.get(r.assignmentId);
          return grant?.userId === u && grant.groups.includes(g) && r.seq < seq;
        });
        const verified = waves.some((r) => (this.seenMember.get(`${u} ${g}`) ?? []).some((s) => s > r.seq && s < seq));
        if (!verified) {
          this.violation(
            `${caller} closed the incident as BenignPositive, but ${u} → group ${g} was not ${waves.length ? "seen delivered after its reprocess" : "reprocessed"}`,
          );
        }
      }
    }
  }

  /** The newest comment never contradicts the record. */
  private checkRecord(): void {
    const row = this.table.rows.get(`incident\u0000${this.incidentId}`);
    if (!row) return;
    const record = JSON.parse(String(row.entity.record)) as IncidentRecord;
    const incident = this.fake.incidents.get(this.incidentId);
    const comments = [...(incident?.comments.entries() ?? [])];
    // A run that stopped half-way (its lease still in the record) may have commented before its
    // record was written: the next run writes that comment again, under the same id.
    if (record.lease) return;
    // A record that says its comment could not be written (Sentinel failed it) is ahead of the
    // incident on purpose: the next run writes that comment.
    if (record.unsaid) return;
    if (record.comments === 0) {
      if (comments.length > 0) this.violation(`the record counts no comment, but the incident has ${comments.length}`);
      return;
    }
    const newest = comments.sort(([, a], [, b]) => a.lastModifiedTimeUtc.localeCompare(b.lastModifiedTimeUtc)).at(-1);
    const expected = stableId(this.incidentId, "update", String(record.comments));
    const byId = incident?.comments.get(expected);
    if (!byId) {
      this.violation(`the record counts ${record.comments} comment(s), but comment ${expected} is not on the incident`);
      return;
    }
    if (newest && newest[1].lastModifiedTimeUtc > byId.lastModifiedTimeUtc)
      this.violation(`a comment newer than the record's last one (${newest[0]})`);
    const settled = record.outcome in TITLE && !["reprocess-requested", "new"].includes(record.outcome);
    const title = TITLE[record.outcome as Outcome];
    if (settled && !byId.message.includes(`Access package remediation: ${title}`)) {
      this.violation(`the record says ${record.outcome}, the newest comment says otherwise: ${byId.message.slice(0, 120)}`);
    }
    if (
      record.outcome === "failed" &&
      !record.dryRun &&
      !new RegExp(`Attempt ${record.failures} of|failed ${record.failures} times`).test(byId.message)
    ) {
      this.violation(`the record counts ${record.failures} failure(s), the newest comment does not: ${byId.message.slice(0, 160)}`);
    }
  }

  /** No secret in any output: comments, the close's classification comment, logs, answers and errors. */
  private checkSecrets(): void {
    const incident = this.fake.incidents.get(this.incidentId);
    const texts = [
      ...this.outputs,
      ...[...(incident?.comments.values() ?? [])].map((c) => c.message),
      incident?.classificationComment ?? "",
    ];
    const secrets = [this.fake.clientSecret, "SIMSECRETSIGNATURE", ...this.fake.issuedTokens()];
    for (const text of texts) {
      const leaked = secrets.find((s) => text.includes(s)) ?? (/\bsig=/i.test(text) ? "sig=" : undefined);
      if (leaked) this.violation(`secret text in an output: ${text.slice(0, 80)}…`);
    }
  }

  result(): ScheduleResult {
    return { seed: this.seed, violations: this.violations, trace: this.trace, changes: this.changes, calls: this.seq, runs: this.runCount };
  }
}

interface IncidentProps {
  status?: string;
  classification?: string;
  labels?: { labelName: string }[];
  owner?: { objectId?: unknown; email?: unknown; assignedTo?: unknown; userPrincipalName?: unknown; ownerType?: unknown };
}

/** What in an incident read forbids any change: a hold label, a close, a person owning it, Active. */
function holdIn(p: IncidentProps | undefined, holdLabel: string): string | undefined {
  if (!p) return "an unreadable incident";
  if (p.status !== "New") return `status ${p.status}`;
  if ((p.labels ?? []).some((l) => l.labelName.trim().toLowerCase() === holdLabel.toLowerCase())) return "the hold label";
  const o = p.owner;
  const named = [o?.objectId, o?.email, o?.assignedTo, o?.userPrincipalName].some((v) => typeof v === "string" && v.trim() !== "");
  if (named && o?.ownerType !== "Group") return `an owner of type ${typeof o?.ownerType === "string" ? o.ownerType : "none"}`;
  return undefined;
}

const account = (userId: string) => ({
  kind: "Account",
  properties: { aadUserId: userId, accountName: "user", upnSuffix: "contoso.example" },
});
const securityGroup = (groupId: string) => ({ kind: "SecurityGroup", properties: { objectGuid: groupId, friendlyName: "sg" } });
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export async function runSchedule(seed: number): Promise<ScheduleResult> {
  const schedule = new Schedule(seed);
  await schedule.play();
  return schedule.result();
}

export interface SimulationResult {
  schedules: number;
  failed: ScheduleResult[];
  changes: Partial<Record<Change, number>>;
  calls: number;
  runs: number;
  ms: number;
}

/** Runs `runs` schedules from seeds `seed`, `seed + 1`, …; `onProgress` after each. */
export async function simulate(options: { runs: number; seed: number; onProgress?: (done: number) => void }): Promise<SimulationResult> {
  const started = performance.now();
  const result: SimulationResult = { schedules: 0, failed: [], changes: {}, calls: 0, runs: 0, ms: 0 };
  for (let n = 0; n < options.runs; n++) {
    const schedule = await runSchedule(options.seed + n);
    result.schedules++;
    result.calls += schedule.calls;
    result.runs += schedule.runs;
    for (const [change, count] of Object.entries(schedule.changes) as [Change, number][]) {
      result.changes[change] = (result.changes[change] ?? 0) + count;
    }
    if (schedule.violations.length > 0) result.failed.push(schedule);
    options.onProgress?.(result.schedules);
  }
  result.ms = performance.now() - started;
  return result;
}
