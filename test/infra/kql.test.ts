import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { analyzeKql, CONTENT, loadContent, TABLES, type ContentItem } from "./content";

const rules = loadContent("rules");
const hunting = loadContent("hunting");
const all: ContentItem[] = [...rules, ...hunting];

/** Deployment-time tokens are replaced before Sentinel sees the query. */
const deployed = (q: string) => q.replaceAll("__REMEDIATION_PRINCIPAL_ID__", "00000000-0000-0000-0000-000000000000");

describe("rules and hunting queries as code", () => {
  it("ships the detection rule, the PIM rule and four hunting queries", () => {
    expect(rules.map((r) => r.name).sort()).toEqual(["Changes to PIM Settings", "User removed from group by another privileged user"]);
    expect(hunting).toHaveLength(4);
  });

  for (const item of all) {
    describe(item.file, () => {
      const analysis = analyzeKql(deployed(item.query));

      it("parses and analyzes with zero errors against the AuditLogs/SigninLogs schemas", () => {
        expect(analysis.errors).toEqual([]);
        expect(analysis.columns.size).toBeGreaterThan(0);
      });

      it("maps entities and custom details only to columns of the query's result", () => {
        const named = [
          ...item.entityMappings.flatMap((m) => m.fieldMappings.map((f) => f.columnName)),
          ...Object.values(item.customDetails ?? {}),
        ];
        expect(named.length).toBeGreaterThan(0);
        for (const column of named) expect([...analysis.columns.keys()]).toContain(column);
      });

      it("has the Azure-Sentinel content fields", () => {
        expect(item.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(item.name.length).toBeGreaterThan(0);
        expect(item.description.length).toBeGreaterThan(0);
        expect(item.tactics.length).toBeGreaterThan(0);
        expect(item.relevantTechniques.every((t) => /^T\d{4}(\.\d{3})?$/.test(t))).toBe(true);
        expect(item.version).toMatch(/^\d+\.\d+\.\d+$/);
        for (const c of item.requiredDataConnectors) for (const t of c.dataTypes) expect(Object.keys(TABLES)).toContain(t);
      });
    });
  }

  it("rules carry a schedule, a trigger and a severity", () => {
    for (const r of rules) {
      expect(r.severity).toMatch(/^(High|Medium|Low|Informational)$/);
      expect(r.queryFrequency).toMatch(/^\d+[mhd]$/);
      expect(r.queryPeriod).toMatch(/^\d+[mhd]$/);
      expect(r.triggerOperator).toBe("gt");
      expect(r.triggerThreshold).toBe(0);
    }
  });

  it("the detection maps the removed user (AadUserId and ObjectGuid) and the group, and never the actor as an Account", () => {
    const rule = rules.find((r) => r.name.startsWith("User removed"));
    const account = rule?.entityMappings.filter((m) => m.entityType === "Account") ?? [];
    expect(account).toHaveLength(1);
    expect(account[0]?.fieldMappings).toEqual(
      expect.arrayContaining([
        { identifier: "AadUserId", columnName: "TargetUserId" },
        { identifier: "ObjectGuid", columnName: "TargetUserId" },
        { identifier: "FullName", columnName: "TargetUPN" },
      ]),
    );
    expect(rule?.entityMappings.find((m) => m.entityType === "SecurityGroup")?.fieldMappings).toEqual([{ identifier: "ObjectGuid", columnName: "GroupId" }]);
  });

  it("the analyzer does report errors (a wrong column is caught)", () => {
    expect(analyzeKql("AuditLogs | project NoSuchColumn").errors).toHaveLength(1);
    expect(analyzeKql("SigninLogs | where UserPrincipalName has '#EXT#' | project UserPrincipalName").errors).toEqual([]);
  });
});

describe("sample AuditLogs records", () => {
  const columns = [...(TABLES.AuditLogs ?? "").matchAll(/(\w+):/g)].map((m) => m[1]);
  const samples = ["auditlogs-remove-member-from-group.json", "auditlogs-add-member-to-group.json"].flatMap(
    (f) => JSON.parse(readFileSync(join(CONTENT, "samples", f), "utf8")) as Record<string, any>[],
  );

  it("use only AuditLogs columns", () => {
    expect(samples.length).toBe(3);
    for (const record of samples) for (const key of Object.keys(record)) expect(columns).toContain(key);
  });

  it("carry the fields the detection reads: a User target with Group.ObjectID, and the initiator", () => {
    for (const record of samples) {
      const target = record.TargetResources[0];
      expect(target.type).toBe("User");
      const group = target.modifiedProperties.find((p: { displayName: string }) => p.displayName === "Group.ObjectID");
      const value = record.OperationName === "Remove member from group" ? group.oldValue : group.newValue;
      expect(JSON.parse(value)).toMatch(/^[0-9a-f-]{36}$/);
      expect(record.InitiatedBy.user ?? record.InitiatedBy.app).toBeDefined();
    }
  });
});
