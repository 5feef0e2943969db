import { describe, expect, it } from "vitest";
import { loadConfig, ruleGuid } from "../../src/config";
import { ConfigError } from "../../src/errors";

const base = {
  SENTINEL_SUBSCRIPTION_ID: "3db968d7-cad1-4856-a953-89d2160c03a5",
  SENTINEL_RESOURCE_GROUP: "rg-sentinel",
  SENTINEL_WORKSPACE_NAME: "law-sentinel-prod",
  SENTINEL_RULE_IDS: "ef7869b2-7a80-4ed3-ad63-546ce5953647",
  STATE_TABLE_ENDPOINT: "https://stremediation.table.core.windows.net",
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
      allowedRuleIds: ["ef7869b2-7a80-4ed3-ad63-546ce5953647"],
      holdLabel: "no-auto-remediation",
      riskCheck: true,
      limits: {
        maxPages: 20,
        maxAssignmentsPerUser: 500,
        maxReprocessPerIncident: 50,
        maxUsersPerIncident: 5,
        maxUsersRestoredPerHour: 50,
        deliveryTimeoutMs: 7_200_000,
      },
      sweep: { schedule: "0 */5 * * * *", maxAgeMs: 72 * 3_600_000, maxAttempts: 5 },
      state: { tableName: "remediationstate", endpoint: "https://stremediation.table.core.windows.net" },
      graphEndpoint: "https://graph.microsoft.com",
      armEndpoint: "https://management.azure.com",
      dryRun: false,
    });
  });

  it("an authority host outside the Azure clouds needs ALLOW_CUSTOM_AUTHORITY_HOST=true: it would get the client secret", () => {
    const custom = {
      ...base,
      AZURE_AUTHORITY_HOST: "https://login.example.net",
      AZURE_TENANT_ID: "c3620297-2040-43b2-a1bc-c604f7f8c54e",
      AZURE_CLIENT_ID: "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      AZURE_CLIENT_SECRET: "x",
    };
    expect(problems(custom)).toEqual([
      expect.stringMatching(/^AZURE_AUTHORITY_HOST is not an Azure cloud's Entra ID .* Set ALLOW_CUSTOM_AUTHORITY_HOST=true/),
    ]);
    expect(problems({ ...custom, ALLOW_CUSTOM_AUTHORITY_HOST: "true" })).toEqual([]);
    expect(problems({ ...custom, AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us/" })).toEqual([]);
  });

  it("Entra ID mode needs the webhook's app registration and tenant; the identity follows the settings", () => {
    const caller = { ...base, WEBHOOK_ALLOWED_CALLER: "0F7C2D4E-5B6A-4C3D-8E9F-A1B2C3D4E5F6" };
    expect(problems(caller)).toEqual([
      expect.stringMatching(/^WEBHOOK_APP_ID is required with WEBHOOK_ALLOWED_CALLER/),
      expect.stringMatching(/^WEBHOOK_TENANT_ID is required/),
    ]);
    const c = loadConfig({
      ...caller,
      WEBHOOK_APP_ID: "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      WEBHOOK_TENANT_ID: "c3620297-2040-43b2-a1bc-c604f7f8c54e",
    });
    expect(c.webhook).toEqual({
      caller: "0f7c2d4e-5b6a-4c3d-8e9f-a1b2c3d4e5f6",
      audience: "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      tenantId: "c3620297-2040-43b2-a1bc-c604f7f8c54e",
      authorityHost: "https://login.microsoftonline.com",
    });
  });

  it("names every missing required setting at once", () => {
    const p = problems({});
    expect(p).toHaveLength(5);
    expect(p.join("\n")).toMatch(/SENTINEL_RULE_IDS is required/);
    expect(p.join("\n")).toMatch(/STATE_TABLE_ENDPOINT or STATE_TABLE_CONNECTION is required/);
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
    for (const name of [
      "SENTINEL_SUBSCRIPTION_ID",
      "GRAPH_ENDPOINT",
      "ARM_ENDPOINT",
      "REMEDIATION_MODE",
      "SENTINEL_RULE_IDS",
      "AZURE_CLIENT_ID",
    ]) {
      expect(p).toContain(name);
    }
  });

  it("refuses to start without SENTINEL_RULE_IDS, and checks bounds and guard settings", () => {
    expect(problems({ ...base, SENTINEL_RULE_IDS: " , " })).toEqual([expect.stringMatching(/^SENTINEL_RULE_IDS is required/)]);
    const p = problems({
      ...base,
      MAX_USERS_PER_INCIDENT: "0",
      GRAPH_MAX_PAGES: "many",
      IDENTITY_PROTECTION_CHECK: "maybe",
      STATE_TABLE_CONNECTION: "UseDevelopmentStorage=true",
    }).join("\n");
    for (const name of ["MAX_USERS_PER_INCIDENT", "GRAPH_MAX_PAGES", "IDENTITY_PROTECTION_CHECK", "STATE_TABLE_ENDPOINT"])
      expect(p).toContain(name);
    expect(loadConfig({ ...base, IDENTITY_PROTECTION_CHECK: "off", MAX_USERS_RESTORED_PER_HOUR: "7" })).toMatchObject({
      riskCheck: false,
      limits: { maxUsersRestoredPerHour: 7 },
    });
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
      SENTINEL_RULE_IDS:
        "EF7869B2-7A80-4ED3-AD63-546CE5953647, /subscriptions/x/resourceGroups/y/providers/Microsoft.OperationalInsights/workspaces/z/providers/Microsoft.SecurityInsights/alertRules/0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab",
      REMEDIATION_MODE: "dry-run",
      GRAPH_ENDPOINT: "https://graph.microsoft.us/",
    });
    expect(c.allowedRuleIds).toEqual(["ef7869b2-7a80-4ed3-ad63-546ce5953647", "0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab"]);
    expect(c.dryRun).toBe(true);
    expect(c.graphEndpoint).toBe("https://graph.microsoft.us");
  });

  it("owner rules join the allowed rules; a rule in both lists is refused, naming it", () => {
    const owner = "3c0e9f4a-6b1d-4e2a-9f7c-8d5b2a1e0c43";
    const c = loadConfig({ ...base, SENTINEL_OWNER_RULE_IDS: owner.toUpperCase() });
    expect(c.ownerRuleIds).toEqual([owner]);
    expect(c.allowedRuleIds).toEqual(["ef7869b2-7a80-4ed3-ad63-546ce5953647", owner]);
    expect(() => loadConfig({ ...base, SENTINEL_OWNER_RULE_IDS: "EF7869B2-7A80-4ED3-AD63-546CE5953647" })).toThrow(
      /SENTINEL_OWNER_RULE_IDS names ef7869b2-7a80-4ed3-ad63-546ce5953647, also in SENTINEL_RULE_IDS/,
    );
    expect(() => loadConfig({ ...base, SENTINEL_OWNER_RULE_IDS: "not-a-rule" })).toThrow(
      /SENTINEL_OWNER_RULE_IDS "not-a-rule" is not an analytics rule id/,
    );
  });

  it("ruleGuid takes the last path segment in lower case", () => {
    expect(ruleGuid("/a/b/alertRules/ABC/")).toBe("abc");
    expect(ruleGuid("abc")).toBe("abc");
  });
});
