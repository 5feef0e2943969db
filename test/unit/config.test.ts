import { describe, expect, it } from "vitest";
import { loadConfig, ruleGuid } from "../../src/config";
import { ConfigError } from "../../src/errors";

const base = {
  SENTINEL_SUBSCRIPTION_ID: "3db968d7-cad1-4856-a953-89d2160c03a5",
  SENTINEL_RESOURCE_GROUP: "rg-sentinel",
  SENTINEL_WORKSPACE_NAME: "law-sentinel-prod",
};

const problems = (env: Record<string, string | undefined>): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe("loadConfig", () => {
  it("applies defaults for everything optional", () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      workspace: { subscriptionId: base.SENTINEL_SUBSCRIPTION_ID, resourceGroup: "rg-sentinel", name: "law-sentinel-prod" },
      allowedRuleIds: [],
      graphEndpoint: "https://graph.microsoft.com",
      armEndpoint: "https://management.azure.com",
      dryRun: false,
    });
  });

  it("names every missing required setting at once", () => {
    const p = problems({});
    expect(p).toHaveLength(3);
    expect(p.join("\n")).toMatch(/SENTINEL_SUBSCRIPTION_ID is required/);
    expect(p.join("\n")).toMatch(/SENTINEL_RESOURCE_GROUP is required/);
    expect(p.join("\n")).toMatch(/SENTINEL_WORKSPACE_NAME is required/);
  });

  it("treats empty settings as unset", () => {
    expect(problems({ ...base, SENTINEL_WORKSPACE_NAME: "  " })).toEqual(["SENTINEL_WORKSPACE_NAME is required"]);
    expect(loadConfig({ ...base, GRAPH_ENDPOINT: "", REMEDIATION_MODE: "" }).graphEndpoint).toBe("https://graph.microsoft.com");
  });

  it("rejects bad values, naming each setting", () => {
    const p = problems({
      ...base,
      SENTINEL_SUBSCRIPTION_ID: "not-a-guid",
      GRAPH_ENDPOINT: "http://graph.local",
      ARM_ENDPOINT: "nonsense",
      REMEDIATION_MODE: "yolo",
      SENTINEL_RULE_IDS: "abc, ef7869b2-7a80-4ed3-ad63-546ce5953647",
      AZURE_CLIENT_ID: "x",
    }).join("\n");
    for (const name of ["SENTINEL_SUBSCRIPTION_ID", "GRAPH_ENDPOINT", "ARM_ENDPOINT", "REMEDIATION_MODE", "SENTINEL_RULE_IDS", "AZURE_CLIENT_ID"]) {
      expect(p).toContain(name);
    }
  });

  it("requires tenant and client id with a client secret", () => {
    expect(problems({ ...base, AZURE_CLIENT_SECRET: "s" })).toEqual([
      "AZURE_TENANT_ID is required when AZURE_CLIENT_SECRET is set",
      "AZURE_CLIENT_ID is required when AZURE_CLIENT_SECRET is set",
    ]);
  });

  it("reads rule ids as GUIDs or ARM ids, dry-run mode and endpoint origins", () => {
    const c = loadConfig({
      ...base,
      SENTINEL_RULE_IDS: "EF7869B2-7A80-4ED3-AD63-546CE5953647, /subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/z/providers/Microsoft.SecurityInsights/alertRules/0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab",
      REMEDIATION_MODE: "dry-run",
      GRAPH_ENDPOINT: "https://graph.microsoft.us/",
    });
    expect(c.allowedRuleIds).toEqual(["ef7869b2-7a80-4ed3-ad63-546ce5953647", "0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab"]);
    expect(c.dryRun).toBe(true);
    expect(c.graphEndpoint).toBe("https://graph.microsoft.us");
  });

  it("ruleGuid takes the last path segment in lower case", () => {
    expect(ruleGuid("/a/b/alertRules/ABC/")).toBe("abc");
    expect(ruleGuid("abc")).toBe("abc");
  });
});
