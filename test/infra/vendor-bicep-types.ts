/**
 * npm run vendor:bicep-types
 *
 * Copies into test/infra/bicep-types the part of the official Bicep type definitions
 * (../shared/bicep-types, the team's snapshot of Azure/bicep-types-az and
 * microsoftgraph/msgraph-bicep-types, plus FROM_NUGET below) that infra/ uses: every resource type@api-version declared
 * in infra/*.bicep, and every type those reach. The tests then need nothing outside this
 * repository. Run it again after adding a resource type or changing an api-version (the Bicep
 * test reports BCP081 until then). An extension's types (a folder with an index.json, the
 * Microsoft Graph extension) are copied whole: the CLI test publishes them as a local extension
 * package, and the index points into the full types.json.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { filesUnder } from "./bicep";

const ROOT = join(__dirname, "..", "..");
const SHARED = join(ROOT, "..", "shared", "bicep-types");
const TARGET = join(__dirname, "bicep-types");
/**
 * Api-versions the shared snapshot lacks, taken from the NuGet package Azure.Bicep.Types.Az
 * (the type data the Bicep compiler ships) by .ci/bicep/az-types.
 */
const FROM_NUGET = ["microsoft.insights/2023-06-01"];
const NUGET = mkdtempSync(join(tmpdir(), "az-types-"));
execFileSync("dotnet", ["run", "--project", join(ROOT, ".ci", "bicep", "az-types"), "--", NUGET, ...FROM_NUGET], { stdio: "inherit" });

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every `$ref` index inside a value. */
function refsOf(value: Json, out: number[] = []): number[] {
  if (Array.isArray(value)) value.forEach((v) => refsOf(v, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$ref" && typeof v === "string") out.push(Number(v.split("/").pop()));
      else refsOf(v, out);
    }
  }
  return out;
}

function renumber(value: Json, map: Map<number, number>): Json {
  if (Array.isArray(value)) return value.map((v) => renumber(v, map));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        k === "$ref" && typeof v === "string" ? `#/${map.get(Number(v.split("/").pop()))}` : renumber(v, map),
      ]),
    );
  }
  return value;
}

const used = new Set(
  filesUnder(join(ROOT, "infra"), (name) => name.endsWith(".bicep")).flatMap((f) =>
    [...readFileSync(f, "utf8").matchAll(/^resource \w+ '([^']+)'/gm)].map((m) => (m[1] as string).toLowerCase()),
  ),
);

// Start from nothing but the README, so that api-versions no longer used go away.
for (const f of existsSync(TARGET) ? readdirSync(TARGET) : []) if (f !== "README.md") rmSync(join(TARGET, f), { recursive: true });
const found = new Set<string>();
const sources = [SHARED, NUGET].flatMap((source) => filesUnder(source, (name) => name === "types.json").map((file) => ({ source, file })));
for (const { source: SOURCE, file } of sources) {
  const types = JSON.parse(readFileSync(file, "utf8")) as { $type: string; name?: string }[];
  const roots = types.flatMap((t, i) => (t.$type === "ResourceType" && used.has(String(t.name).toLowerCase()) ? [i] : []));
  if (roots.length === 0) continue;
  const index = join(dirname(file), "index.json");
  if (existsSync(index)) {
    const out = join(TARGET, relative(SOURCE, dirname(file)));
    mkdirSync(out, { recursive: true });
    for (const f of [file, index]) writeFileSync(join(out, relative(dirname(file), f)), readFileSync(f));
    roots.forEach((i) => found.add(String(types[i]?.name).toLowerCase()));
    process.stdout.write(`${relative(ROOT, out)}: extension types copied whole (${types.length} types, index.json)
`);
    continue;
  }
  const keep = new Set<number>();
  const queue = [...roots];
  while (queue.length > 0) {
    const i = queue.pop() as number;
    if (keep.has(i)) continue;
    keep.add(i);
    queue.push(...refsOf(types[i] as Json));
  }
  const order = [...keep].sort((a, b) => a - b);
  const map = new Map(order.map((old, i) => [old, i]));
  const out = join(TARGET, relative(SOURCE, file));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(order.map((i) => renumber(types[i] as Json, map)))}\n`);
  roots.forEach((i) => found.add(String(types[i]?.name).toLowerCase()));
  process.stdout.write(`${relative(ROOT, out)}: ${order.length} of ${types.length} types\n`);
}
const missing = [...used].filter((u) => !found.has(u));
if (missing.length > 0) {
  process.stderr.write(`not in ${SHARED} nor in ${FROM_NUGET.join(", ")} of Azure.Bicep.Types.Az: ${missing.join(", ")}\n`);
  process.exit(1);
}
