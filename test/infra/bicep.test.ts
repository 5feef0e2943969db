import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { settingsSchema } from "../../src/config";
import { checkResourceBodies, objectProperties, parseBicep, resources, syntaxErrors, type ParsedBicep } from "./bicep";
import { parse as parseYaml } from "yaml";
import { CATALOG_ROLES, neededAccess } from "../../src/permissions";
import { INFRA } from "./content";

/** App setting names written in a Bicep file: upper-case or AzureWebJobsStorage__/APPLICATIONINSIGHTS_ keys of objects. */
const appSettingKeys = (source: string) =>
  [...source.matchAll(/(?:^\s+|\{ )((?:[A-Z][A-Z0-9_]+|AzureWebJobsStorage__\w+)): /gm)].map((m) => m[1] as string);

/** App settings the Flex Consumption plan deprecates (learn.microsoft.com, functions-app-settings#flex-consumption-plan-deprecations). */
const FLEX_DEPRECATED = [
  "FUNCTIONS_EXTENSION_VERSION",
  "FUNCTIONS_WORKER_RUNTIME",
  "FUNCTIONS_WORKER_RUNTIME_VERSION",
  "FUNCTIONS_MAX_HTTP_CONCURRENCY",
  "FUNCTIONS_WORKER_PROCESS_COUNT",
  "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
  "SCM_DO_BUILD_DURING_DEPLOYMENT",
  "ENABLE_ORYX_BUILD",
  "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
  "WEBSITE_CONTENTOVERVNET",
  "WEBSITE_CONTENTSHARE",
  "WEBSITE_DNS_SERVER",
  "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
  "WEBSITE_NODE_DEFAULT_VERSION",
  "WEBSITE_RUN_FROM_PACKAGE",
  "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
  "WEBSITE_VNET_ROUTE_ALL",
  "WEBSITES_CONTAINER_START_TIME_LIMIT",
  "WEBSITE_TIME_ZONE",
  "TZ",
  "AzureWebJobsStorage",
];

const ROOT = join(INFRA, "..");
const files = [join(INFRA, "main.bicep"), ...readdirSync(join(INFRA, "modules")).map((f) => join(INFRA, "modules", f))].filter((f) =>
  f.endsWith(".bicep"),
);
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
  sentinelReader: "8d289c81-5878-46d4-8554-54e1e3d8b5cb",
  logAnalyticsReader: "73c42c96-874c-492b-b04d-ab87d138a893",
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
      "modules/playbookRunPermission.bicep",
      "modules/sentinelAccess.bicep",
      "modules/storage.bicep",
      "modules/webhookApp.bicep",
      "modules/workbook.bicep",
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
      expect(name).toMatch(new RegExp(`^guid\\(.+, \\w*([pP]rincipalId|GroupId), ${roleVar}\\)$`));
    }
  });

  it("writes the app settings the app reads, with the same names", () => {
    const known = Object.keys(settingsSchema.shape);
    const written = new Set([...appSettingKeys(get("functionApp.bicep").source), ...appSettingKeys(get("main.bicep").source)]);
    const appRead = [...written].filter((k) => known.includes(k));
    // Every setting the app cannot start without is written (the state table identity-based).
    for (const required of [
      "SENTINEL_SUBSCRIPTION_ID",
      "SENTINEL_RESOURCE_GROUP",
      "SENTINEL_WORKSPACE_NAME",
      "SENTINEL_RULE_IDS",
      "STATE_TABLE_ENDPOINT",
      "AZURE_CLIENT_ID",
      "WEBHOOK_ALLOWED_CALLER",
      "IDENTITY_PROTECTION_CHECK",
    ]) {
      expect(appRead).toContain(required);
    }
    expect(appRead).not.toContain("STATE_TABLE_CONNECTION");
    // Everything else written is for the Functions host (storage, App Insights), never a misspelt app setting.
    for (const k of written) if (!known.includes(k)) expect(k).toMatch(/^(AzureWebJobsStorage__|APPLICATIONINSIGHTS_)/);
    // Keyless: identity-based storage, AAD-only App Insights.
    expect(written.has("AzureWebJobsStorage__credential")).toBe(true);
    expect(written.has("AzureWebJobsStorage")).toBe(false);
  });

  it("sets nothing Flex Consumption rejects or ignores, and sizes the instance at 512 MB", () => {
    const app = get("functionApp.bicep");
    const site = resources(app).find((r) => r.type.startsWith("Microsoft.Web/sites@"));
    const siteConfig = /siteConfig: \{([^}]*)\}/.exec(site!.body!.text)?.[1] ?? "";
    expect([...siteConfig.matchAll(/(\w+):/g)].map((m) => m[1])).toEqual(["minTlsVersion"]);
    const written = [...appSettingKeys(app.source), ...appSettingKeys(get("main.bicep").source)];
    for (const k of written) expect(FLEX_DEPRECATED).not.toContain(k);
    expect(app.source).not.toMatch(/languageWorkers__/);
    expect(app.source).toMatch(/param instanceMemoryMB int = 512\b/);
    expect(app.source).toMatch(/instanceMemoryMB: instanceMemoryMB/);
  });

  it("grants every Graph permission the code calls, and only those, from the table the code reads", () => {
    const main = get("main.bicep").source;
    // The deployment reads the same table as the code and filters it as neededAccess() does.
    expect(main).toContain("var graphCalls = map(items(loadJsonContent('../src/graphPermissions.json', '$.calls')), call => call.value)");
    expect(main.replace(/\s+/g, " ")).toContain(
      "filter(graphCalls, call => (empty(accessPackageCatalogIds) || empty(call.?catalogRole)) && (identityProtectionCheck || call.?onlyWith != 'IDENTITY_PROTECTION_CHECK')), call => call.permission",
    );
    expect(main).toMatch(/ACCESS_PACKAGE_CATALOG_IDS: join\(accessPackageCatalogIds, ','\)/);
    expect(main).toMatch(/IDENTITY_PROTECTION_CHECK: identityProtectionCheck \? 'on' : 'off'/);
    expect(neededAccess({ catalogScoped: false, riskCheck: true }).permissions.sort()).toEqual(
      ["EntitlementManagement.ReadWrite.All", "GroupMember.Read.All", "IdentityRiskyUser.Read.All", "User.Read.All"].sort(),
    );
    expect(neededAccess({ catalogScoped: true, riskCheck: false })).toEqual({
      permissions: ["User.Read.All", "GroupMember.Read.All"],
      catalogRoles: ["Catalog reader", "Access package assignment manager"],
    });
    // The scripts grant the same, reading the same table, through the identity's own appRoleAssignments.
    const graphScript = readFileSync(join(INFRA, "scripts", "grant-graph-permission.sh"), "utf8");
    expect(graphScript).toContain("src/graphPermissions.json");
    expect(graphScript).toMatch(/servicePrincipals\/\$principal\/appRoleAssignments"/);
    expect(graphScript).not.toMatch(/appRoleAssignedTo/);
    const catalogScript = readFileSync(join(INFRA, "scripts", "grant-catalog-role.sh"), "utf8");
    expect(catalogScript).toContain("src/graphPermissions.json");
    expect(Object.keys(CATALOG_ROLES)).toEqual(neededAccess({ catalogScoped: true, riskCheck: true }).catalogRoles);
  });

  it("the webhook takes Entra ID tokens from the playbook's identity only, and no key is read at provision time", () => {
    const main = get("main.bicep").source;
    const app = get("functionApp.bicep");
    const auth = resources(app).find((r) => /authsettingsV2/.test(r.body?.text ?? ""));
    const text = auth!.body!.text;
    expect(text).toMatch(/requireAuthentication: true/);
    // Deployed whatever webhookAuth is, so that switching to functionKey turns it off.
    expect(app.source).toMatch(/resource auth 'Microsoft\.Web\/sites\/config@2024-11-01' = \{/);
    expect(text).toMatch(/platform: \{ enabled: entraAuth \}/);
    // The registration has no identifier URI: api://<appId> could never match.
    expect(text).not.toContain("api://");
    expect(text).toMatch(/unauthenticatedClientAction: 'Return401'/);
    expect(text).toMatch(/allowedPrincipals: \{ identities: \[ webhookCallerPrincipalId \] \}/);
    expect(text).toMatch(/allowedAudiences: \[ webhookAppId/);
    // The one allowed caller is the playbook's identity, in Easy Auth and in the code's own check.
    expect(main).toMatch(/webhookCallerPrincipalId: playbookIdentity\.outputs\.principalId/);
    expect(main).toMatch(/WEBHOOK_ALLOWED_CALLER: playbookIdentity\.outputs\.principalId/);
    // The webhook's service principal and role come out of the module that made them (no lookup right after creation).
    expect(main).toMatch(
      /principalId: playbookIdentity\.outputs\.principalId, resourceId: webhookApp!\.outputs\.servicePrincipalId, appRoleId: webhookApp!\.outputs\.appRoleId/,
    );
    expect(get("webhookApp.bicep").source).toMatch(/appRoleAssignmentRequired: true/);
    // The playbook authenticates with its identity and hides inputs and outputs from run history.
    const playbook = get("playbook.bicep").source;
    expect(playbook).toMatch(/authentication: \{ type: 'ManagedServiceIdentity', identity: identityId, audience: webhookAudience \}/);
    expect(playbook).toMatch(/secureData: \{ properties: \[ 'inputs', 'outputs' \] \}/);
    for (const p of parsed.values()) expect(p.source).not.toMatch(/listKeys\(/);
  });

  it("local.settings.sample.json and the README name every setting the app reads", () => {
    const sample = JSON.parse(readFileSync(join(ROOT, "local.settings.sample.json"), "utf8")) as { Values: Record<string, string> };
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    for (const k of Object.keys(settingsSchema.shape)) {
      expect(Object.keys(sample.Values)).toContain(k);
      expect(readme).toContain(`\`${k}\``);
    }
  });

  it("deploys every rule and hunting query under infra/content, and the watchlist the detection reads", () => {
    const detection = get("detection.bicep").source;
    for (const folder of ["rules", "hunting"]) {
      for (const f of readdirSync(join(INFRA, "content", folder)).filter((x) => x.endsWith(".yaml"))) {
        expect(detection, `${folder}/${f}`).toContain(`loadYamlContent('../content/${folder}/${f}')`);
      }
    }
    const rule = readFileSync(join(INFRA, "content", "rules", "user-removed-from-group.yaml"), "utf8");
    const alias = /_GetWatchlist\("(\w+)"\)/.exec(rule)?.[1];
    expect(detection).toContain(`var exemptionsAlias = '${alias}'`);
    expect(detection).toMatch(/itemsSearchKey: 'ActorId'/);
    // A header alone is refused by the watchlist API: one placeholder row that matches no actor.
    expect(detection).toMatch(/rawContent: 'ActorId,ActorName,Reason\\r\\n\$\{exemptionPlaceholder\}\\r\\n'/);
    expect(detection).toContain("var exemptionPlaceholder = '00000000-0000-0000-0000-000000000000,");
    // The rules do not wait for the watchlist: a watchlist failure must not take them down.
    expect(detection).not.toMatch(/dependsOn: \[ exemptions \]/);
    // The rule's queries get the app's identity; the PIM rule is linked to its template.
    expect(detection).toMatch(/query: deployedQuery\(detection\.query, remediationPrincipalId, actorLists\)/);
    expect(detection).toMatch(/query: deployedQuery\(scheduledDetection\.query, remediationPrincipalId, actorLists\)/);
    expect(detection).toMatch(/query: deployedQuery\(q\.query, remediationPrincipalId, actorLists\)/);
    expect(detection).toContain("loadYamlContent('../content/system-actors.yaml').actors");
    expect(detection).toMatch(/alertRuleTemplateName: pimRule\.id/);
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

describe("azure.yaml", () => {
  const azd = parseYaml(readFileSync(join(ROOT, "azure.yaml"), "utf8")) as {
    services: { api: { project: string; remoteBuild: boolean; hooks?: Record<string, { run: string }> } };
    hooks: Record<string, { run: string }>;
  };

  it("stages the bundle in a service hook, which azd deploy alone runs too", () => {
    expect(azd.services.api).toMatchObject({ project: "./deploy", remoteBuild: false });
    expect(azd.services.api.hooks?.prepackage?.run).toContain("sh infra/scripts/stage-package.sh");
    expect(azd.hooks.prepackage).toBeUndefined();
  });

  it("pre-provision stops with guidance when az is not signed in, the Sentinel principal id is unreadable, or Sentinel is not enabled", () => {
    expect(azd.hooks.preprovision?.run ?? "").toBe("sh infra/scripts/preflight.sh");
    const run = readFileSync(join(INFRA, "scripts", "preflight.sh"), "utf8");
    expect(run).toMatch(/az account show >\/dev\/null 2>&1 \|\| fail "the Azure CLI is not signed in: run az login/);
    expect(run).toMatch(/\[ -n "\$id" \] \|\| fail "could not read the object id of the Azure Security Insights service principal/);
    // The id is stored only once it was read: never an empty value.
    expect(run.indexOf('[ -n "$id" ]')).toBeLessThan(run.indexOf('azd env set SECURITY_INSIGHTS_PRINCIPAL_ID "$id"'));
    expect(run).toMatch(/onboardingStates\/default/);
    expect(run).toContain("is not onboarded to Microsoft Sentinel");
    // az and azd on one tenant, providers registered, a Flex Consumption region.
    expect(run).toContain("azd deploys to tenant $AZURE_TENANT_ID but az is signed in to $az_tenant");
    expect(run).toContain("az provider register");
    expect(run).toContain("az functionapp list-flexconsumption-locations");
  });
});
