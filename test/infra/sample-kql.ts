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
import { CONTENT, deployedQuery, loadContent, TABLES, WATCHLIST_COLUMNS, type ContentItem } from "./content";

export interface SampleFile {
  /** The rule, as a path under infra/content/. */
  rule: string;
  /** Stands in for the remediation app's identity in the query. */
  remediationPrincipalId: string;
  /** Rows of the AccessRemovalExemptions watchlist for these samples. */
  watchlist: { ActorId: string; ActorName: string; Reason: string }[];
  /**
   * Scheduled rules: the times the rule runs (ISO 8601). Each sample then says when it was
   * ingested and, when it alerts, in which run; one KQL text per run stands in `IngestedAt` for
   * ingestion_time(), the run's time for now(), and applies the rule's look-back on TimeGenerated.
   */
  runs?: string[];
  samples: { decision: "alert" | "no alert"; why: string; ingestedAt?: string; run?: string; record: Record<string, unknown> }[];
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

/** One KQL text per run of the rule (one in all for an NRT rule). */
export function samplesKql(file: string): string[] {
  const samples = JSON.parse(readFileSync(file, "utf8")) as SampleFile;
  const [folder, name] = samples.rule.split("/") as ["rules" | "hunting", string];
  const rule = loadContent(folder).find((r) => r.file === `${folder}/${name}`);
  if (!rule) throw new Error(`${file}: no rule ${samples.rule}`);
  const runs: (string | undefined)[] = samples.runs ?? [undefined];
  return runs.map((run) => oneRun(file, samples, rule, run));
}

/** The KQL text of one run (the only one, for NRT rules), with the decisions expected of it. */
function oneRun(file: string, samples: SampleFile, rule: ContentItem, run: string | undefined): string {
  const columns: [string, string][] = [...auditLogsColumns(), ...(run ? [["IngestedAt", "datetime"] as [string, string]] : [])];
  const width = Math.max(...samples.samples.map((s) => s.decision.length));
  const decision = (s: SampleFile["samples"][number]) => (run === undefined || s.run === run ? s.decision : "no alert");
  const expected = samples.samples.map((s) => `//   ${decision(s).padEnd(width)}  ${String(s.record.CorrelationId)}  ${s.why}`);
  const rows = samples.samples.map((s) => {
    const record: Record<string, unknown> = { ...s.record, IngestedAt: s.ingestedAt };
    return `  ${columns.map(([c, t]) => literal(record[c], t)).join(", ")}`;
  });
  const watchlist = samples.watchlist.map(
    (w) => `    ${[w.ActorId, w.ActorId, w.ActorName, w.Reason].map((v) => JSON.stringify(v)).join(", ")}`,
  );
  let query = deployedQuery(rule.query, samples.remediationPrincipalId).trimEnd();
  if (run) query = query.replaceAll("ingestion_time()", "IngestedAt").replaceAll("now()", `datetime(${run})`);
  return [
    `// "${rule.name}" (infra/content/${samples.rule}) over its ${samples.samples.length} sample records`,
    `// (infra/content/samples/${file.split("/").pop() ?? ""})${run ? `, as the run at ${run} sees them` : ""}. Run it in Log`,
    "// Analytics: the rows it returns are the alerts; each should be one of the CorrelationIds expected to alert:",
    ...expected,
    `let AuditLogs = datatable(${columns.map(([c, t]) => `${c}: ${t}`).join(", ")}) [`,
    rows.join(",\n"),
    // A run reads the rule's look-back (queryPeriod) of TimeGenerated, as Sentinel applies it.
    run ? `]\n| where TimeGenerated > datetime(${run}) - ${rule.queryPeriod ?? ""};` : "];",
    `let _GetWatchlist = (watchlistAlias: string) { datatable(${WATCHLIST_COLUMNS}) [`,
    watchlist.join(",\n"),
    "] };",
    query,
    "",
  ].join("\n");
}

if (require.main === module) {
  const files = process.argv.slice(2);
  for (const f of files.length ? files : sampleFiles()) process.stdout.write(`${samplesKql(f).join("\n")}\n`);
}
