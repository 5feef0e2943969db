/**
 * The workbook "Access package remediation" (infra/content/workbooks/, deployed by
 * infra/modules/workbook.bicep): the structure Azure Monitor workbooks require, every query
 * analyzed by the Kusto language service against the schemas of the tables it reads, and every
 * field it reads from the app's decision records written by the app.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decisionRecord, DECISION_RECORD } from "../../src/core/decisionRecord";
import { summaryOf } from "../helpers";
import { analyzeKql, CONTENT, INFRA } from "./content";

interface Item {
  type: number;
  name: string;
  content: Record<string, unknown> & { query?: string; parameters?: Record<string, unknown>[]; chartSettings?: Record<string, string> };
}
const FILE = join(CONTENT, "workbooks", "access-package-remediation.json");
const text = readFileSync(FILE, "utf8");
const workbook = JSON.parse(text) as { version: string; items: Item[]; fallbackResourceIds: string[]; $schema: string };
const BICEP = readFileSync(join(INFRA, "modules", "workbook.bicep"), "utf8");
const TOKENS = ["__SENTINEL_WORKSPACE_ID__", "__APP_LOGS_WORKSPACE_ID__", "__RULE_IDS__"];

const parameters = workbook.items.filter((i) => i.type === 9).flatMap((i) => i.content.parameters ?? []);
const queries = workbook.items.filter((i) => i.type === 3);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The query as the Kusto service sees it: parameters filled in, the app's workspace as a local table. */
const asRun = (query: string) => query.replace('workspace("{AppLogs}").AppTraces', "AppTraces").replace("{RuleIds}", "a,b");

describe("workbook: Access package remediation", () => {
  it("has the structure Azure Monitor workbooks require", () => {
    expect(workbook.version).toBe("Notebook/1.0");
    expect(workbook.$schema).toBe("https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/schema/workbook.json");
    expect(workbook.fallbackResourceIds).toEqual(["__SENTINEL_WORKSPACE_ID__"]);
    expect(new Set(workbook.items.map((i) => i.name)).size).toBe(workbook.items.length);
    for (const item of workbook.items) {
      expect([1, 3, 9], item.name).toContain(item.type);
      if (item.type === 1) expect(typeof item.content.json, item.name).toBe("string");
      if (item.type === 9) expect(item.content.version, item.name).toBe("KqlParameterItem/1.0");
      if (item.type === 3) {
        expect(item.content).toMatchObject({
          version: "KqlItem/1.0",
          queryType: 0,
          resourceType: "microsoft.operationalinsights/workspaces",
          timeContextFromParameter: "TimeRange",
        });
        expect(["table", "barchart", "timechart", "piechart", "tiles"], item.name).toContain(item.content.visualization);
        expect(typeof item.content.size).toBe("number");
      }
    }
    for (const p of parameters) {
      expect(p.id).toMatch(GUID);
      expect(p.version).toBe("KqlParameterItem/1.0");
      expect([1, 4]).toContain(p.type);
    }
    expect(new Set(parameters.map((p) => p.id)).size).toBe(parameters.length);
  });

  it("answers the questions it is for", () => {
    expect(queries.map((q) => q.name)).toEqual([
      "incidents-per-day",
      "users-restored-per-day",
      "held-by-reason",
      "time-to-restore",
      "top-actors",
      "top-groups",
      "incidents-closed-by",
    ]);
    const perDay = queries.find((q) => q.name === "incidents-per-day")?.content.query ?? "";
    for (const state of ["waiting: delivery", "waiting: hourly cap", "failed", "held", "restored and closed"])
      expect(perDay).toContain(`"${state}"`);
  });

  it("refers only to parameters it defines; the deployment fills in every placeholder", () => {
    const names = new Set(parameters.map((p) => p.name));
    for (const q of queries) for (const m of (q.content.query ?? "").matchAll(/\{(\w+)\}/g)) expect(names, q.name).toContain(m[1]);
    for (const token of TOKENS) {
      expect(text).toContain(token);
      expect(BICEP).toContain(`'${token}'`);
    }
    // Filled in with real-looking values, it is still valid JSON.
    const filled = text
      .replace("__SENTINEL_WORKSPACE_ID__", "/subscriptions/0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law")
      .replace("__APP_LOGS_WORKSPACE_ID__", "/subscriptions/0/resourceGroups/app/providers/Microsoft.OperationalInsights/workspaces/log")
      .replace("__RULE_IDS__", "4ef17a4b-e918-4708-b580-4debb0e6a1c6,9b3f1c2e-7d4a-4e8b-a1c6-5f0e2d3b4a71");
    expect(() => JSON.parse(filled) as unknown).not.toThrow();
  });

  for (const q of queries) {
    it(`${q.name}: analyzes with zero errors against the AppTraces, AuditLogs and SecurityIncident schemas; the chart's columns exist`, () => {
      const { errors, columns } = analyzeKql(asRun(q.content.query ?? ""));
      expect(errors).toEqual([]);
      expect(columns.size).toBeGreaterThan(0);
      for (const axis of Object.values(q.content.chartSettings ?? {}).filter((v) => typeof v === "string"))
        expect([...columns.keys()], q.name).toContain(axis);
    });
  }

  it("time-to-restore reports the median and the 95th percentile", () => {
    const { columns } = analyzeKql(asRun(queries.find((q) => q.name === "time-to-restore")?.content.query ?? ""));
    expect([...columns.keys()]).toEqual(["Day", "Restores", "Median", "P95"]);
  });

  it("reads the app's decision records by their prefix, and only fields the app writes", () => {
    const summary = summaryOf({
      incident: { id: "i", number: 1 },
      outcome: "remediated",
      groups: ["g"],
      groupNames: { g: "sg" },
      restored: [{ userId: "u", kind: "group", targetId: "g" }],
      closed: true,
    });
    const record = decisionRecord(summary, 2, 1);
    const pair = record.restored[0] ?? {};
    for (const q of queries.filter((x) => x.content.query?.includes("Decisions"))) {
      const query = q.content.query ?? "";
      expect(query).toContain(`"${DECISION_RECORD} "`);
      for (const m of query.matchAll(/\bD\.(\w+)/g)) expect(Object.keys(record), `${q.name}: D.${m[1]}`).toContain(m[1]);
      for (const m of query.matchAll(/\bP\.(\w+)/g)) expect(Object.keys(pair), `${q.name}: P.${m[1]}`).toContain(m[1]);
    }
  });
});
