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
    const main = runBicep(bicep, ["build", "main.bicep", "--stdout"], join(work, "infra"));
    if (main.status !== 0) throw new Error(`bicep build main.bicep failed:\n${main.stderr}`);
    compiled = JSON.parse(main.stdout) as Json;
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("the deployed bicepconfig.json names the Graph extension's registry, not a local package", () => {
    const config = JSON.parse(readFileSync(join(INFRA, "bicepconfig.json"), "utf8")) as Json;
    expect(config.extensions.microsoftGraphV1).toMatch(/^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:/);
  });

  const files = filesUnder(INFRA, (name) => name.endsWith(".bicep")).map((f) => relative(INFRA, f));

  it.each(files)(
    "%s builds and lints with no error and no warning",
    (file) => {
      const cwd = join(work, "infra");
      const build = runBicep(bicep as string, ["build", file, "--stdout"], cwd);
      const lint = runBicep(bicep as string, ["lint", file], cwd);
      expect(build.status, build.stderr).toBe(0);
      expect(diagnostics(build.stderr)).toEqual([]);
      expect(lint.status, lint.stderr + lint.stdout).toBe(0);
      expect(diagnostics(lint.stderr + lint.stdout)).toEqual([]);
    },
    60_000,
  );

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
