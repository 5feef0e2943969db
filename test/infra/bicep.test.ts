import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { settingsSchema } from "../../src/config";
import { checkResourceBodies, objectProperties, parseBicep, resources, syntaxErrors, type ParsedBicep } from "./bicep";
import { INFRA, nodeWorkerArguments } from "./content";

const ROOT = join(INFRA, "..");
const files = [join(INFRA, "main.bicep"), ...readdirSync(join(INFRA, "modules")).map((f) => join(INFRA, "modules", f))].filter((f) => f.endsWith(".bicep"));
const parsed = new Map<string, ParsedBicep>();
const get = (name: string) => {
  const p = [...parsed.values()].find((x) => x.file.endsWith(name));
  if (!p) throw new Error(`${name} not parsed`);
  return p;
};

beforeAll(async () => {
  for (const f of files) parsed.set(f, await parseBicep(f));
});

/** The documented built-in role definition ids (learn.microsoft.com/azure/role-based-access-control/built-in-roles). */
const ROLES: Record<string, string> = {
  sentinelResponder: "3e150937-b8fe-4cfb-8069-0eaf05ecd056",
  sentinelAutomationContributor: "f4c81013-99ee-4d62-a7ee-b3f1f648599a",
  storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
  storageTableDataContributor: "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
  monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
};

describe("Bicep", () => {
  it("covers main.bicep and its modules", () => {
    expect(files.map((f) => f.slice(INFRA.length + 1)).sort()).toEqual([
      "main.bicep",
      "modules/detection.bicep",
      "modules/functionApp.bicep",
      "modules/graphAppRole.bicep",
      "modules/identity.bicep",
      "modules/monitoring.bicep",
      "modules/playbook.bicep",
      "modules/sentinelAccess.bicep",
      "modules/storage.bicep",
    ]);
  });

  it("every file parses with no error nodes", () => {
    for (const p of parsed.values()) expect(syntaxErrors(p)).toEqual([]);
  });

  it("every resource body fits the official type definitions of its api-version", () => {
    const findings = [...parsed.values()].flatMap(checkResourceBodies);
    expect(findings).toEqual([]);
  });

  it("every module path and loadYamlContent file exists", () => {
    for (const p of parsed.values()) {
      for (const m of p.source.matchAll(/^module \w+ '([^']+)'/gm)) expect(existsSync(join(dirname(p.file), m[1] ?? ""))).toBe(true);
      for (const m of p.source.matchAll(/loadYamlContent\('([^']+)'/g)) expect(existsSync(join(dirname(p.file), m[1] ?? ""))).toBe(true);
    }
  });

  it("every parameter says Required. or Optional. and every output is described", () => {
    for (const p of parsed.values()) {
      const lines = p.source.split("\n");
      lines.forEach((line, i) => {
        const decorators = lines.slice(Math.max(0, i - 3), i).join("\n");
        if (/^param \w+/.test(line)) expect(decorators, `${p.file}: ${line}`).toMatch(/@description\('(Required|Optional)\. /);
        if (/^output \w+/.test(line)) expect(decorators, `${p.file}: ${line}`).toMatch(/@description\('/);
      });
    }
  });

  it("role assignments use the documented role definition ids and guid(scope, principal, role) names", () => {
    const assignments = [...parsed.values()].flatMap((p) =>
      resources(p)
        .filter((r) => r.type.startsWith("Microsoft.Authorization/roleAssignments@"))
        .map((r) => ({ p, r })),
    );
    expect(assignments.length).toBeGreaterThan(0);
    for (const { p, r } of assignments) {
      const props = objectProperties(r.body!);
      const name = props.find((x) => x.key === "name")?.value?.text ?? "";
      const roleVar = /roleDefinitions', (\w+)\)/.exec(r.body!.text)?.[1] ?? "";
      expect(Object.keys(ROLES)).toContain(roleVar);
      expect(p.source).toContain(`var ${roleVar} = '${ROLES[roleVar]}'`);
      expect(name).toMatch(new RegExp(`^guid\\(.+, \\w*[pP]rincipalId, ${roleVar}\\)$`));
    }
  });

  it("writes the app settings the app reads, with the same names", () => {
    const known = Object.keys(settingsSchema.shape);
    const appSettings = resources(get("functionApp.bicep")).find((r) => r.type.startsWith("Microsoft.Web/sites/config"));
    const settingsValue = objectProperties(appSettings!.body!).find((x) => x.key === "properties")?.value?.text ?? "";
    const literalKeys = [...settingsValue.matchAll(/^\s+(\w+): /gm)].map((m) => m[1]);
    const remediationBlock = /remediationSettings: \{([^}]*)\}/.exec(get("main.bicep").source)?.[1] ?? "";
    const remediationKeys = [...remediationBlock.matchAll(/^\s+(\w+): /gm)].map((m) => m[1]);
    const written = new Set([...literalKeys, ...remediationKeys].filter((k): k is string => !!k));
    const appRead = [...written].filter((k) => known.includes(k));
    // Every setting the app cannot start without is written (the state table identity-based).
    for (const required of ["SENTINEL_SUBSCRIPTION_ID", "SENTINEL_RESOURCE_GROUP", "SENTINEL_WORKSPACE_NAME", "SENTINEL_RULE_IDS", "STATE_TABLE_ENDPOINT", "AZURE_CLIENT_ID"]) {
      expect(appRead).toContain(required);
    }
    expect(appRead).not.toContain("STATE_TABLE_CONNECTION");
    // Everything else written is for the Functions host (storage, App Insights, the Node worker's
    // arguments), never a misspelt app setting.
    for (const k of written) if (!known.includes(k)) expect(k).toMatch(/^(AzureWebJobsStorage__|APPLICATIONINSIGHTS_|languageWorkers__node__arguments$)/);
    expect(nodeWorkerArguments()).toMatch(/^(--[a-z-]+=\d+ ?)+$/);
    // Keyless: identity-based storage, AAD-only App Insights.
    expect(written.has("AzureWebJobsStorage__credential")).toBe(true);
    expect(written.has("AzureWebJobsStorage")).toBe(false);
  });

  it("local.settings.sample.json and the README name every setting the app reads", () => {
    const sample = JSON.parse(readFileSync(join(ROOT, "local.settings.sample.json"), "utf8")) as { Values: Record<string, string> };
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const k of Object.keys(settingsSchema.shape)) {
      expect(Object.keys(sample.Values)).toContain(k);
      expect(readme).toContain(`\`${k}\``);
    }
  });

  it("the parameters files only set parameters main.bicep declares", () => {
    const declared = [...get("main.bicep").source.matchAll(/^param (\w+)/gm)].map((m) => m[1]);
    for (const f of ["main.parameters.json", "main.example.parameters.json"]) {
      const params = JSON.parse(readFileSync(join(INFRA, f), "utf8")) as { parameters: Record<string, unknown> };
      for (const k of Object.keys(params.parameters)) expect(declared).toContain(k);
    }
  });

  it("keeps storage keyless and App Insights local auth off", () => {
    expect(get("storage.bicep").source).toMatch(/allowSharedKeyAccess: false/);
    expect(get("monitoring.bicep").source).toMatch(/DisableLocalAuth: true/);
  });

  it("the checks do catch problems", async () => {
    const bad = await parseBicep(
      "bad.bicep",
      [
        "resource s 'Microsoft.Storage/storageAccounts@2025-06-01' = {",
        "  name: 'x'",
        "  location: 'westeurope'",
        "  kind: 'StorageV2'",
        "  sku: { name: 'Standard_LRS' }",
        "  properties: {",
        "    accessTier: 'Lukewarm'",
        "    allowSharedKeyAcess: false",
        "    primaryEndpoints: {}",
        "  }",
        "}",
        "resource t 'Microsoft.Nope/things@2020-01-01' = { name: 'y' }",
        "resource u 'Microsoft.Web/connections@2016-06-01' = {",
        "  name: 'c'",
        "  properties: {",
        "    #disable-next-line BCP037",
        "    parameterValueType: 'Alternative'",
        "  }",
        "}",
      ].join("\n"),
    );
    expect(syntaxErrors(bad)).toEqual([]);
    expect(checkResourceBodies(bad).map((f) => `${f.line} ${f.code}`)).toEqual(["7 BCP036", "8 BCP037", "9 BCP073", "12 BCP081"]);
    const broken = await parseBicep("broken.bicep", "resource s 'Microsoft.Web/sites@2024-11-01' = {\n  name: 'x'\n  properties: {\n}\n");
    expect(syntaxErrors(broken).length).toBeGreaterThan(0);
  });
});
