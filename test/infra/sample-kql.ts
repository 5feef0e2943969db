/**
 * npm run samples:kql [-- <samples file> ...]
 *
 * For each rule's sample file (infra/content/samples/<rule>.json), prints a KQL text that runs the
 * rule's own query over its sample records: the records as a `datatable` standing in for
 * AuditLogs, the sample watchlist standing in for _GetWatchlist. Paste it into Log Analytics (Logs)
 * and compare the rows with the decisions listed at the top. No offline Kusto engine exists here;
 * the test suite checks these texts with the Kusto language service.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CONTENT, deployedQuery, loadContent, TABLES, WATCHLIST_COLUMNS } from "./content";

export interface SampleFile {
  /** The rule, as a path under infra/content/. */
  rule: string;
  /** Stands in for the remediation app's identity in the query. */
  remediationPrincipalId: string;
  /** Rows of the AccessRemovalExemptions watchlist for these samples. */
  watchlist: { ActorId: string; ActorName: string; Reason: string }[];
  samples: { decision: "alert" | "no alert"; why: string; record: Record<string, unknown> }[];
}

export const SAMPLES = join(CONTENT, "samples");

/** The sample files that belong to a rule (the other files there are plain record lists). */
export function sampleFiles(): string[] {
  return readdirSync(SAMPLES)
    .filter((f) => f.endsWith(".json"))
    .filter((f) => !Array.isArray(JSON.parse(readFileSync(join(SAMPLES, f), "utf8"))))
    .map((f) => join(SAMPLES, f));
}

/** AuditLogs columns in schema order, with their types. */
export function auditLogsColumns(): [name: string, type: string][] {
  return [...(TABLES.AuditLogs ?? "").matchAll(/(\w+):(\w+)/g)].map((m) => [m[1] as string, m[2] as string]);
}

/** One value as a KQL literal of the column's type. */
function literal(value: unknown, type: string): string {
  if (value === undefined || value === null) return type === "string" ? '""' : `${type}(null)`;
  if (type === "dynamic") return `dynamic(${JSON.stringify(value)})`;
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean")
    throw new Error(`a ${type} column holds a ${typeof value}`);
  const text = String(value);
  return type === "string" ? JSON.stringify(text) : `${type}(${text})`;
}

export function samplesKql(file: string): string {
  const samples = JSON.parse(readFileSync(file, "utf8")) as SampleFile;
  const [folder, name] = samples.rule.split("/") as ["rules" | "hunting", string];
  const rule = loadContent(folder).find((r) => r.file === `${folder}/${name}`);
  if (!rule) throw new Error(`${file}: no rule ${samples.rule}`);
  const columns = auditLogsColumns();
  const width = Math.max(...samples.samples.map((s) => s.decision.length));
  const expected = samples.samples.map((s) => `//   ${s.decision.padEnd(width)}  ${String(s.record.CorrelationId)}  ${s.why}`);
  const rows = samples.samples.map((s) => `  ${columns.map(([c, t]) => literal(s.record[c], t)).join(", ")}`);
  const watchlist = samples.watchlist.map(
    (w) => `    ${[w.ActorId, w.ActorId, w.ActorName, w.Reason].map((v) => JSON.stringify(v)).join(", ")}`,
  );
  return [
    `// "${rule.name}" (infra/content/${samples.rule}) over its ${samples.samples.length} sample records`,
    `// (infra/content/samples/${file.split("/").pop() ?? ""}). Run it in Log Analytics: the rows it returns`,
    "// are the alerts; each should be one of the CorrelationIds expected to alert:",
    ...expected,
    `let AuditLogs = datatable(${columns.map(([c, t]) => `${c}: ${t}`).join(", ")}) [`,
    rows.join(",\n"),
    "];",
    `let _GetWatchlist = (watchlistAlias: string) { datatable(${WATCHLIST_COLUMNS}) [`,
    watchlist.join(",\n"),
    "] };",
    deployedQuery(rule.query, samples.remediationPrincipalId).trimEnd(),
    "",
  ].join("\n");
}

if (require.main === module) {
  const files = process.argv.slice(2);
  for (const f of files.length ? files : sampleFiles()) process.stdout.write(`${samplesKql(f)}\n`);
}
