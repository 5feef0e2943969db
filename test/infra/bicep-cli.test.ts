/**
 * The templates through the real Bicep CLI (the pinned version of .ci/bicep/restore.csproj):
 * every .bicep file builds and lints with no error and no warning, the parameter files fit the
 * compiled template, every compiled resource's type and api-version exists in the vendored type
 * data, and no output carries a key, secret or connection string.
 *
 * The Microsoft Graph extension's registry cannot be reached from the build machines: a local
 * extension package is published from the vendored Graph types and named in a temporary copy of
 * bicepconfig.json; the deployed bicepconfig.json keeps the registry reference.
 *
 * Without the CLI the tests are skipped with a note saying how to get it; in CI (CI=true) they fail.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diagnostics, findBicep, HOW_TO_GET_BICEP, runBicep } from "./bicep-cli";
import { filesUnder, loadResourceTypes, TYPES_DIR } from "./bicep";

const ROOT = join(__dirname, "..", "..");
const INFRA = join(ROOT, "infra");
const bicep = findBicep();
const inCi = process.env.CI === "true";

if (!bicep && !inCi) process.stderr.write(`Bicep CLI not found: the templates were not compiled. To compile them, ${HOW_TO_GET_BICEP}.\n`);

type Json = Record<string, any>;
let work = "";
let compiled: Json = {};
/** One build and one lint of every template (`--pattern`: one CLI start each, not one per file). */
let built = { status: 1, output: "" };
let linted = { status: 1, output: "" };

/** Every resource of a compiled template, nested deployments (modules) included, with where it is. */
function resourcesOf(template: Json, path = "main"): { path: string; resource: Json }[] {
  const list: Json[] = Array.isArray(template.resources) ? template.resources : Object.values(template.resources ?? {});
  return list.flatMap((r) => {
    const inner = r.properties?.template as Json | undefined;
    return [{ path, resource: r }, ...(inner ? resourcesOf(inner, `${path}/${r.name}`) : [])];
  });
}

/** Every template in the compilation: the main one and each module's. */
function templatesOf(template: Json): Json[] {
  return [
    template,
    ...resourcesOf(template).flatMap(({ resource }) => (resource.properties?.template ? [resource.properties.template as Json] : [])),
  ];
}

describe.skipIf(!bicep && !inCi)("Bicep CLI", () => {
  beforeAll(() => {
    if (!bicep) throw new Error(`CI=true and no Bicep CLI: ${HOW_TO_GET_BICEP}`);
    work = mkdtempSync(join(tmpdir(), "bicep-"));
    cpSync(INFRA, join(work, "infra"), { recursive: true });
    // The Graph permission table the deployment reads (loadJsonContent('../src/graphPermissions.json')).
    cpSync(join(ROOT, "src", "graphPermissions.json"), join(work, "src", "graphPermissions.json"));
    const extension = join(work, "microsoftgraph-v1.0.tgz");
    const published = runBicep(
      bicep,
      ["publish-extension", join(TYPES_DIR, "microsoft.graph", "v1.0-1.0.0", "index.json"), "--target", extension],
      work,
    );
    if (published.status !== 0) throw new Error(`bicep publish-extension failed: ${published.stderr}`);
    const config = JSON.parse(readFileSync(join(INFRA, "bicepconfig.json"), "utf8")) as Json;
    writeFileSync(
      join(work, "infra", "bicepconfig.json"),
      JSON.stringify({ ...config, extensions: { ...config.extensions, microsoftGraphV1: extension } }),
    );
    const cwd = join(work, "infra");
    const build = runBicep(bicep, ["build", "--pattern", "**/*.bicep"], cwd);
    built = { status: build.status, output: build.stderr + build.stdout };
    const lint = runBicep(bicep, ["lint", "--pattern", "**/*.bicep"], cwd);
    linted = { status: lint.status, output: lint.stderr + lint.stdout };
    if (build.status !== 0) throw new Error(`bicep build failed:\n${build.stderr}`);
    compiled = JSON.parse(readFileSync(join(cwd, "main.json"), "utf8")) as Json;
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the deployed bicepconfig.json names the Graph extension's registry, not a local package", () => {
    const config = JSON.parse(readFileSync(join(INFRA, "bicepconfig.json"), "utf8")) as Json;
    expect(config.extensions.microsoftGraphV1).toMatch(/^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:/);
  });

  const files = filesUnder(INFRA, (name) => name.endsWith(".bicep")).map((f) => relative(INFRA, f));

  it("builds and lints every template (the CLI found them all)", () => {
    expect(built.status, built.output).toBe(0);
    expect(linted.status, linted.output).toBe(0);
    expect(diagnostics(built.output)).toEqual([]);
    expect(diagnostics(linted.output)).toEqual([]);
    const compiledFiles = filesUnder(join(work, "infra"), (name) => name.endsWith(".json") && !name.endsWith("bicepconfig.json"));
    expect(compiledFiles.map((f) => relative(join(work, "infra"), f).replace(/\.json$/, ".bicep")).sort()).toEqual(
      expect.arrayContaining([...files].sort()),
    );
  });

  it.each(files)("%s builds and lints with no error and no warning", (file) => {
    const about = (output: string) => diagnostics(output).filter((d) => d.includes(`${join("infra", file)}(`));
    expect(about(built.output)).toEqual([]);
    expect(about(linted.output)).toEqual([]);
  });

  it("every compiled resource's type and api-version is in the vendored type data", () => {
    const known = loadResourceTypes();
    const resources = resourcesOf(compiled).map(({ resource }) => resource);
    // Module deployments are the compiler's own wrapper, not a resource the templates declare.
    const declared = resources.filter((r) => r.type !== "Microsoft.Resources/deployments");
    expect(declared.length).toBeGreaterThan(20);
    const missing = declared
      .map((r) => String(r.apiVersion ? `${r.type}@${r.apiVersion}` : r.type).toLowerCase())
      .filter((name) => !known.has(name));
    expect(missing).toEqual([]);
  });

  it("no output carries a key, secret or connection string", () => {
    const outputs = templatesOf(compiled).flatMap((t) => Object.entries((t.outputs ?? {}) as Json));
    expect(outputs.length).toBeGreaterThan(0);
    for (const [name, output] of outputs) {
      expect(name).not.toMatch(/key|secret|password|connectionstring/i);
      expect(JSON.stringify(output.value ?? "")).not.toMatch(/list(Keys|Secrets|ConnectionStrings)|AccountKey=|SharedAccessSignature/i);
    }
  });

  /** A module deployment of the main template, by name. */
  const moduleOf = (name: string): Json => {
    const found = resourcesOf(compiled).find(({ path, resource }) => path === "main" && resource.name === name)?.resource;
    if (!found) throw new Error(`no module ${name} in main.bicep`);
    return found;
  };
  /** The role assignments a module makes, with its variables written in (role definition ids). */
  const roleAssignments = (module: string): Json[] => {
    const template = moduleOf(module).properties.template as Json;
    const vars = (template.variables ?? {}) as Record<string, unknown>;
    return resourcesOf(template)
      .map(({ resource }) => resource)
      .filter((r) => String(r.type).startsWith("Microsoft.Authorization/roleAssignments"))
      .map((r) => JSON.parse(JSON.stringify(r).replace(/variables\('(\w+)'\)/g, (_, v: string) => `'${String(vars[v])}'`)) as Json);
  };

  it("deploys again without a conflict: every hunting query (saved search) carries etag '*' in its properties", () => {
    const searches = resourcesOf(compiled)
      .map(({ resource }) => resource)
      .filter((r) => r.type === "Microsoft.OperationalInsights/workspaces/savedSearches");
    expect(searches.length).toBeGreaterThan(0);
    for (const s of searches) expect(s.properties.etag).toBe("*");
  });

  it("gives each identity the Sentinel role its documented calls need, on the workspace", () => {
    const sentinel = roleAssignments("sentinelAccess").map((r) => `${r.properties.principalId} ${r.properties.roleDefinitionId}`);
    // The app: Microsoft Sentinel Responder (comment, close). The playbook's identity: Microsoft
    // Sentinel Reader, which the Sentinel connector's incident trigger needs.
    expect(sentinel).toEqual([
      expect.stringMatching(/parameters\('principalId'\).*3e150937-b8fe-4cfb-8069-0eaf05ecd056/),
      expect.stringMatching(/parameters\('playbookPrincipalId'\).*8d289c81-5878-46d4-8554-54e1e3d8b5cb/),
    ]);
    expect(JSON.stringify(moduleOf("sentinelAccess").properties.parameters.playbookPrincipalId)).toContain("playbookIdentity");
    // Sentinel itself: Automation Contributor on the playbook's resource group, in a module of its own.
    const run = roleAssignments("playbookRunPermission");
    expect(run.map((r) => r.properties.roleDefinitionId as string)).toEqual([
      expect.stringContaining("f4c81013-99ee-4d62-a7ee-b3f1f648599a"),
    ]);
  });

  it("creates the automation rule only after Sentinel may run the playbook, and that grant first of all", () => {
    expect(moduleOf("playbookRunPermission").dependsOn ?? []).toEqual([]);
    expect(moduleOf("playbookRunPermission").condition).toBe("[parameters('grantPlaybookPermission')]");
    expect(moduleOf("detection").dependsOn).toContain("[resourceId('Microsoft.Resources/deployments', 'playbookRunPermission')]");
  });

  it("makes no app role assignment with grantGraphPermission=false, the webhook caller's included", () => {
    for (const r of resourcesOf(compiled).map(({ resource }) => resource)) {
      const inner = JSON.stringify(r.properties?.template?.resources ?? []);
      if (r.type === "Microsoft.Resources/deployments" && inner.includes("Microsoft.Graph/appRoleAssignedTo")) {
        expect(String(r.condition), String(r.name)).toContain("parameters('grantGraphPermission')");
      }
    }
  });

  it("azd can set every parameter a documented fix changes (infra/main.parameters.json)", () => {
    const mapped = (JSON.parse(readFileSync(join(INFRA, "main.parameters.json"), "utf8")) as Json).parameters as Json;
    for (const p of [
      "grantGraphPermission",
      "grantPlaybookPermission",
      "identityProtectionCheck",
      "webhookAuth",
      "functionKey",
      "remediationMode",
    ]) {
      expect(mapped[p]?.value, p).toMatch(/^\$\{[A-Z_]+(=[^}]*)?\}$/);
    }
    // set-function-key.sh records the mode and key under the names the file maps.
    const script = readFileSync(join(INFRA, "scripts", "set-function-key.sh"), "utf8");
    expect(mapped.webhookAuth.value).toBe("${WEBHOOK_AUTH=entra}");
    expect(script).toContain("azd env set WEBHOOK_AUTH functionKey");
    expect(mapped.functionKey.value).toBe("${FUNCTION_KEY}");
    expect(script).toContain('azd env set FUNCTION_KEY "$key"');
  });

  it("the preflight checks every resource provider the compiled template deploys to", () => {
    const preflight = readFileSync(join(INFRA, "scripts", "preflight.sh"), "utf8");
    const listed = /for ns in ([^;]+);/.exec(preflight)?.[1]?.split(/\s+/) ?? [];
    const used = new Set(
      resourcesOf(compiled)
        .map(({ resource }) => String(resource.type).split("/")[0] as string)
        .filter((ns) => !["Microsoft.Resources", "Microsoft.Authorization", "Microsoft.Graph"].includes(ns)),
    );
    expect([...used].filter((ns) => !listed.includes(ns))).toEqual([]);
    expect(readFileSync(join(ROOT, "azure.yaml"), "utf8")).toContain("run: sh infra/scripts/preflight.sh");
  });

  it.each(["main.parameters.json", "main.example.parameters.json"])("%s gives every required parameter and no unknown one", (file) => {
    const given = Object.keys((JSON.parse(readFileSync(join(INFRA, file), "utf8")) as Json).parameters);
    const declared = compiled.parameters as Record<string, Json>;
    expect(given.filter((p) => !(p in declared))).toEqual([]);
    const required = Object.entries(declared)
      .filter(([, p]) => !("defaultValue" in p) && p.nullable !== true)
      .map(([name]) => name);
    expect(
      required.filter((p) => !given.includes(p)),
      `${basename(file)} lacks required parameters`,
    ).toEqual([]);
  });
});
