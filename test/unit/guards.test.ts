/** src/core/guards.ts: the incident-wide checks. */
import { describe, expect, it } from "vitest";
import { ruleArmId } from "../../src/config";
import { checkIncident, checkUserCount } from "../../src/core/guards";
import { readSnapshot } from "../../src/core/snapshot";
import type { AlertList, IncidentState, SentinelGateway } from "../../src/sentinel";
import { RULE_ID, testConfig, WORKSPACE } from "../helpers";

describe("guards", () => {
  const ruleId = (guid: string, ws = WORKSPACE) => ruleArmId(ws, guid);
  const now = Date.parse("2026-11-29T12:00:00Z");
  const incident = (over: Partial<IncidentState> = {}): IncidentState => ({
    id: "/x",
    name: "i",
    etag: '"e"',
    title: "t",
    severity: "Medium",
    status: "New",
    labels: [],
    ruleIds: [ruleId(RULE_ID)],
    alertProductNames: ["Azure Sentinel"],
    createdTimeUtc: new Date(now - 3_600_000),
    ...over,
  });
  const config = testConfig();
  const found = { users: [], unusableAccounts: [], groups: [], groupNames: {}, apps: [] };
  const decisions = (i: IncidentState, alerts?: AlertList) =>
    checkIncident({ incident: i, found, ...(alerts ? { alerts } : {}) }, { config, now: () => now });
  const held = async (i: IncidentState, alerts?: AlertList) =>
    decisions(i, alerts)
      .filter((d) => d.result === "hold")
      .map((d) => d.guard);

  it("passes only the removal rule's own New, unowned, unlabelled, recent incident", async () => {
    expect(await held(incident())).toEqual([]);
    expect(await held(incident({ alertProductNames: ["Microsoft Sentinel"] }))).toEqual([]);
    expect(await held(incident({ ownerType: "Group", owner: { assignedTo: "Tier 1 queue" } }))).toEqual([]);
  });

  it("holds merged incidents, other statuses, the hold label and reopened incidents", async () => {
    expect(await held(incident({ ruleIds: [ruleId(RULE_ID), ruleId("0b9ae89d-8cad-461c-808f-0494f70ad5c4")] }))).toEqual(["alerts"]);
    expect(await held(incident({ alertProductNames: ["Azure Sentinel", "Microsoft Defender for Identity"] }))).toEqual(["alerts"]);
    expect(await held(incident({ ruleIds: [] }))).toEqual(["alerts"]);
    expect(await held(incident({ status: "Active" }))).toEqual(["status"]);
    expect(await held(incident({ labels: ["No-Auto-Remediation"] }))).toEqual(["hold-label"]);
    expect(await held(incident({ labels: [" no-auto-remediation "] }))).toEqual(["hold-label"]);
    expect(await held(incident({ labels: ["auto-remediated"] }))).toEqual(["reopened"]);
  });

  it("reads the alerts when the incident's product list is absent or empty, and holds when they do not add up", async () => {
    const alertReads: string[] = [];
    const entityReads: string[] = [];
    const sentinelWith = (i: IncidentState, list: AlertList) =>
      ({
        getIncident: async () => i,
        listEntities: async (id: string) => (entityReads.push(id), []),
        listAlertProducts: async (id: string) => (alertReads.push(id), list),
      }) as unknown as SentinelGateway;
    const defender = { products: ["Microsoft Sentinel", "Microsoft Defender for Cloud Apps"], complete: true };
    const snapOf = (i: IncidentState, list = defender) =>
      readSnapshot(i.name, { sentinel: sentinelWith(i, list) }, new AbortController().signal);
    // The stub lists a Defender for Cloud Apps alert: read, and held for it.
    for (const i of [incident({ name: "empty", alertProductNames: [] }), incident({ name: "absent", alertProductNames: undefined })]) {
      const snapshot = await snapOf(i);
      expect(
        checkIncident(snapshot, { config, now: () => now })
          .filter((d) => d.result === "hold")
          .map((d) => d.guard),
      ).toEqual(["alerts"]);
    }
    await snapOf(incident({ name: "listed" }));
    expect(alertReads).toEqual(["empty", "absent"]);
    expect(entityReads).toEqual(["empty", "absent", "listed"]);
    const only = (list: AlertList) =>
      decisions(incident({ alertProductNames: undefined, alertsCount: 1 }), list).find((x) => x.guard === "alerts");
    expect(only({ products: ["Microsoft Sentinel"], complete: true })).toMatchObject({ result: "pass" });
    expect(only({ products: ["Microsoft Sentinel"], complete: false })).toMatchObject({
      result: "hold",
      reason: expect.stringContaining("more pages than its API documents"),
    });
    expect(only({ products: ["Microsoft Sentinel", "Microsoft Sentinel"], complete: true })).toMatchObject({
      result: "hold",
      reason: expect.stringContaining("listed 2 alert(s) of the incident's 1"),
    });
  });

  it("matches rules as full ARM ids of the configured workspace: the same GUID in another workspace is not ours", async () => {
    expect(await held(incident({ ruleIds: [ruleId(RULE_ID, { ...WORKSPACE, name: "law-other" })] }))).toEqual(["alerts"]);
    expect(await held(incident({ ruleIds: [RULE_ID] }))).toEqual(["alerts"]);
  });

  it("holds an incident a person owns, and one older than SWEEP_MAX_AGE_HOURS", async () => {
    expect(await held(incident({ ownerType: "User", owner: { assignedTo: "Ana Analyst" } }))).toEqual(["owner"]);
    // Fail closed: anyone named holds unless the owner is a group (a queue), whatever else the type says.
    expect(await held(incident({ ownerType: "Unknown", owner: { email: "ana@contoso.example" } }))).toEqual(["owner"]);
    expect(await held(incident({ owner: { objectId: "4f1e0c9a-8b7d-4e6f-9a5b-3c2d1e0f9a8b" } }))).toEqual(["owner"]);
    expect(await held(incident({ ownerType: "SomethingNew", owner: { userPrincipalName: "ana@contoso.example" } }))).toEqual(["owner"]);
    // An owner naming no one is no owner, whatever its type (unassigned incidents may carry Unknown).
    expect(await held(incident({ ownerType: "Unknown", owner: { assignedTo: "", email: " " } }))).toEqual([]);
    expect(await held(incident({ ownerType: "User", owner: {} }))).toEqual([]);
    expect(await held(incident({ createdTimeUtc: new Date(now - 73 * 3_600_000) }))).toEqual(["age"]);
    expect(await held(incident({ createdTimeUtc: undefined }))).toEqual(["age"]);
  });

  it("holds an incident naming more users than allowed", () => {
    const users = Array.from({ length: 3 }, (_, i) => ({ objectId: `u${i}`, source: "aadUserId" as const }));
    expect(checkUserCount(users, 3).result).toBe("pass");
    expect(checkUserCount(users, 2)).toMatchObject({ result: "hold", reason: expect.stringContaining("MAX_USERS_PER_INCIDENT") });
  });
});
