/**
 * The state machine under interleavings: two webhook runs on one incident (two instances), the
 * sweeper, a run on a second incident competing for the hourly cap, and analyst actions, all
 * ordered by fast-check's scheduler. Every Graph, Sentinel and state call is one scheduled step of
 * an in-memory world, so any ordering of the steps can happen; the invariants are checked at the
 * moment of each change (reprocess, close) and at the end.
 *
 *   - never closed unless every (user, group) pair is a membership again;
 *   - at most one accepted reprocess per assignment per incident;
 *   - the hourly cap never exceeded;
 *   - a hold label, a person owner or Active always respected at the moment of close.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ruleArmId } from "../../src/config";
import { remediateIncident } from "../../src/core/remediate";
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import type { Deps, Logger } from "../../src/deps";
import type { GraphGateway } from "../../src/graph";
import type { IncidentState, SentinelGateway } from "../../src/sentinel";
import type { Pair } from "../../src/core/domain";
import { pairKey, type IncidentRecord, type StateStore } from "../../src/store";
import { RULE_ID, testConfig, WORKSPACE } from "../helpers";

const NOW = Date.parse("2026-11-29T12:00:00Z");
const GROUP = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";
const PKG = "0c9e7a51-1f2d-4a6b-9c3e-5d7f9b1a3c5e";
const CAP = 1;
const config = testConfig({
  MAX_USERS_RESTORED_PER_HOUR: String(CAP),
  DELIVERY_CHECK_SECONDS: "0",
});
const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

interface Incident {
  name: string;
  user: string;
  assignment: string;
  etag: number;
  status: string;
  labels: string[];
  ownerType?: string;
  products: string[];
  classification?: string;
}

type Step = <T>(label: string, effect: () => T) => Promise<T>;

/** Two incidents, each for its own user removed from the same group; every call is a scheduled step. */
class World {
  readonly incidents = new Map<string, Incident>();
  readonly members = new Set<string>();
  readonly accepted = new Map<string, number>();
  readonly violations: string[] = [];
  readonly table = new Map<string, { value: unknown; etag: number }>();
  private etags = 0;

  constructor(readonly step: Step) {
    for (const n of [1, 2]) {
      const name = `0000000${n}-aaaa-4bbb-8ccc-dddddddddddd`;
      this.incidents.set(name, {
        name,
        user: `1111111${n}-aaaa-4bbb-8ccc-dddddddddddd`,
        assignment: `2222222${n}-aaaa-4bbb-8ccc-dddddddddddd`,
        etag: 0,
        status: "New",
        labels: [],
        products: ["Microsoft Sentinel"],
      });
    }
  }

  incident(name: string): Incident {
    const i = this.incidents.get(name);
    if (!i) throw new Error(`no incident ${name}`);
    return i;
  }

  edit(name: string, change: (i: Incident) => void): void {
    const i = this.incident(name);
    change(i);
    i.etag++;
  }

  state(i: Incident): IncidentState {
    return {
      id: `/incidents/${i.name}`,
      name: i.name,
      etag: String(i.etag),
      title: "User removed from group",
      severity: "Medium",
      status: i.status,
      labels: [...i.labels],
      ruleIds: [ruleArmId(WORKSPACE, RULE_ID)],
      alertProductNames: [...i.products],
      createdTimeUtc: new Date(NOW - 30 * 60_000),
      ...(i.ownerType ? { ownerType: i.ownerType, owner: { assignedTo: "someone" } } : {}),
    };
  }

  sentinel(): SentinelGateway {
    return {
      getIncident: (id) => this.step(`read ${id}`, () => this.state(this.incident(id))),
      listEntities: (id) =>
        this.step(`entities ${id}`, () => [
          { kind: "Account", properties: { aadUserId: this.incident(id).user } },
          { kind: "SecurityGroup", properties: { objectGuid: GROUP } },
        ]),
      listAlertProducts: (id) => this.step(`alerts ${id}`, () => ({ products: [...this.incident(id).products], complete: true })),
      listNewIncidents: (query) =>
        this.step("list", () => {
          const all = [...this.incidents.values()].filter((i) => i.status === "New").map((i) => this.state(i));
          return { kept: all.filter(query.keep), read: all.length, truncated: false };
        }),
      upsertComment: (id) => this.step(`comment ${id}`, () => undefined),
      getAlertRule: () => Promise.reject(new Error("not used by a run")),
      listAutomationRules: () => Promise.reject(new Error("not used by a run")),
      closeIncident: (read, request) =>
        this.step(`close ${read.name}`, () => {
          const i = this.incident(read.name);
          if (String(i.etag) !== read.etag) return "conflict" as const;
          // The moment of close: everything the guards stand for must hold now.
          if (i.status !== "New") this.violations.push(`closed while ${i.status}`);
          if (i.labels.includes("no-auto-remediation")) this.violations.push("closed with the hold label");
          if (i.ownerType === "User") this.violations.push("closed while a person owned it");
          if (i.products.some((p) => p !== "Microsoft Sentinel")) this.violations.push("closed with another product's alert");
          if (!this.members.has(i.user)) this.violations.push("closed before the membership was back");
          i.status = "Closed";
          i.classification = "BenignPositive";
          i.labels.push(request.label);
          i.etag++;
          return "closed" as const;
        }),
    };
  }

  graph(): GraphGateway {
    const byAssignment = (id: string) => [...this.incidents.values()].find((i) => i.assignment === id);
    return {
      listAssignments: (userId) =>
        this.step(`assignments ${userId}`, () => {
          const i = [...this.incidents.values()].find((x) => x.user === userId);
          return i ? [{ id: i.assignment, state: "delivered", accessPackageId: PKG }] : [];
        }),
      grantsOf: () => this.step("package", () => ({ groups: [GROUP], owners: [], apps: [] })),
      reprocess: (id) =>
        this.step(`reprocess ${id}`, () => {
          const n = (this.accepted.get(id) ?? 0) + 1;
          this.accepted.set(id, n);
          if (n > 1) this.violations.push(`assignment ${id} reprocessed ${n} times`);
          const restoredUsers = [...this.accepted.keys()].length;
          if (restoredUsers > CAP) this.violations.push(`${restoredUsers} users restored, over the cap of ${CAP}`);
          const i = byAssignment(id);
          if (i) this.members.add(i.user);
          return "accepted" as const;
        }),
      getUser: () => this.step("user", () => ({ accountEnabled: true })),
      getRisk: () => this.step("risk", () => undefined),
      directGroups: (userId, groupIds) => this.step(`member ${userId}`, () => (this.members.has(userId) ? groupIds : [])),
      ownedGroups: () => this.step("owners", () => []),
      probe: () => Promise.reject(new Error("not used by a run")),
    };
  }

  /** The state table's semantics: conditional writes on etags, the lease, the cap. */
  store(): StateStore {
    const get = (key: string) => this.table.get(key);
    const put = (key: string, value: unknown, etag: string | undefined): string | undefined => {
      const current = get(key);
      if ((current === undefined) !== (etag === undefined) || (current && String(current.etag) !== etag)) return undefined;
      const next = ++this.etags;
      this.table.set(key, { value, etag: next });
      return String(next);
    };
    const read = (id: string) => {
      const e = get(`incident/${id}`);
      return { record: e?.value as IncidentRecord | undefined, etag: e ? String(e.etag) : undefined };
    };
    return {
      read: (id) => this.step(`state ${id}`, () => read(id)),
      claim: (id, { stored, lease, now }) =>
        this.step(`claim ${id}`, () => {
          const held = stored.record?.lease;
          if (held && held.owner !== lease.owner && held.until > now) return undefined;
          const record = {
            ...(stored.record ?? { outcome: "new", dryRun: false, failures: 0, comments: 0, updatedAt: now }),
            lease,
          };
          return put(`incident/${id}`, record, stored.etag);
        }),
      save: (id, record, etag) =>
        this.step(`save ${id}`, () => {
          const next = put(`incident/${id}`, record, etag);
          if (next === undefined) throw new Error("lease lost");
          return next;
        }),
      reserveRestores: (users, cap) =>
        this.step("reserve", () => {
          const used = (get("cap")?.value as number | undefined) ?? 0;
          if (used + users > cap) return { granted: false, used };
          this.table.set("cap", { value: used + users, etag: ++this.etags });
          return { granted: true, used: used + users, bucket: 0 };
        }),
      releaseRestores: (reservation, users) =>
        this.step("release", () => {
          if (reservation.granted)
            this.table.set("cap", { value: Math.max(0, ((get("cap")?.value as number) ?? 0) - users), etag: ++this.etags });
        }),
      restoresOf: (pairs: Pair[]) => this.step("history", () => new Map(pairs.map((p) => [pairKey(p), 0]))),
      noteRestores: () => this.step("note", () => undefined),
      noteSweep: () => this.step("sweep note", () => undefined),
      probe: () => Promise.reject(new Error("not used by a run")),
      listRecords: () => Promise.reject(new Error("not used by a run")),
      windowUse: () => Promise.reject(new Error("not used by a run")),
      lastSweep: () => Promise.reject(new Error("not used by a run")),
    };
  }

  deps(): Deps {
    return { config, graph: this.graph(), sentinel: this.sentinel(), store: this.store(), now: () => NOW };
  }
}

const analystAction = fc.constantFrom("hold-label", "take-ownership", "set-active", "close-true-positive", "merge-alert", "nothing");

function act(world: World, name: string, action: string): void {
  world.edit(name, (i) => {
    if (action === "hold-label") i.labels.push("no-auto-remediation");
    if (action === "take-ownership") i.ownerType = "User";
    if (action === "set-active") i.status = "Active";
    if (action === "merge-alert") i.products.push("Microsoft Defender for Identity");
    if (action === "close-true-positive" && i.status !== "Closed") {
      i.status = "Closed";
      i.classification = "TruePositive";
    }
  });
}

describe("the state machine under interleavings", () => {
  it("keeps every invariant whatever the order of runs, sweeps and analyst actions", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(analystAction, { maxLength: 3 }), async (s, actions) => {
        const world = new World((label, effect) => s.schedule(Promise.resolve(label), label).then(effect));
        const [first, second] = [...world.incidents.keys()] as [string, string];
        const pointer = (incidentId: string) => ({ incidentId, armId: `/incidents/${incidentId}`, workspace: config.workspace });
        const signal = new AbortController().signal;
        const settle = (p: Promise<unknown>) =>
          p.then(
            () => undefined,
            () => undefined,
          );
        const work = [
          settle(remediateIncident(pointer(first), world.deps(), quiet, signal)),
          settle(remediateIncident(pointer(first), world.deps(), quiet, signal)),
          settle(remediateIncident(pointer(second), world.deps(), quiet, signal)),
          settle(sweepOpenIncidents(world.deps(), quiet, signal, { ...SWEEP_DEFAULTS, graceMs: 0 })),
          ...actions.map((a) => s.schedule(Promise.resolve(`analyst ${a}`), `analyst ${a}`).then(() => act(world, first, a))),
        ];
        await s.waitFor(Promise.all(work));

        expect(world.violations).toEqual([]);
        for (const i of world.incidents.values()) {
          if (i.classification === "BenignPositive") expect(world.members.has(i.user)).toBe(true);
        }
        expect(world.accepted.size).toBeLessThanOrEqual(CAP);
      }),
      { numRuns: 300 },
    );
  });
});
