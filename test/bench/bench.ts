/**
 * npm run bench -- [--latency 40] [--single-latencies 40,200] [--instances 1] [--assignments 100000] [--packages 2000] [--burst 1000]
 *                  [--concurrency 50] [--budget 100] [--cold-runs 15] [--json]
 *
 * Runs the app (real clients, the real webhook handler, bundled as deployed, in its own Node
 * process so that memory figures are the app's) against the fake tenant (another process) with
 * per-request latency on a large tenant, and prints what it measured:
 *   1. one incident: wall time and sequential round trips for users with 1/5/20/100 assignments;
 *   2. the runbook request pattern this app replaces, on the same tenant, and the ratio;
 *   3. a burst of incidents under a Graph request budget (token bucket, 429 + Retry-After);
 *   4. cold start: loading the function entry point, peak RSS, deployment package size;
 *   5. a Graph next link pointing to its own page: pages read and peak RSS until the bound stops it.
 */
import { spawn, spawnSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { createCredential } from "../../src/clients";
import { loadConfig } from "../../src/config";
import { startAzurite } from "../fake-tenant/azurite";
import { startTableProxy } from "./table-proxy";
import { DEFAULT_CERT_DIR, ensureCertificate } from "../fake-tenant/cert";
import { BENCH_RULE_ID, generateLargeTenant } from "../fake-tenant/generate";
import type { Job } from "./app-worker";
import { runbookPattern } from "./runbook-pattern";

const ROOT = join(__dirname, "..", "..");

const { values: opts } = parseArgs({
  options: {
    latency: { type: "string", default: "40" },
    // Section 1 runs once per latency listed here (the fake's answers delayed that much).
    "single-latencies": { type: "string", default: "40,200" },
    assignments: { type: "string", default: "100000" },
    packages: { type: "string", default: "2000" },
    burst: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "50" },
    budget: { type: "string", default: "100" },
    // Function-app instances sharing the Graph budget in the burst (each with its own learned rate).
    instances: { type: "string", default: "1" },
    "cold-runs": { type: "string", default: "15" },
    json: { type: "boolean", default: false },
  },
});
const num = (k: keyof typeof opts) => Number(opts[k]);
const singleLatencies = String(opts["single-latencies"]).split(",").map(Number);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const log = (line: string) => {
  if (!opts.json) process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const tls = await ensureCertificate();
  if (process.env.NODE_EXTRA_CA_CERTS !== tls.certPath) {
    // Node reads extra CA certificates only at start: run again with the fake's certificate trusted.
    const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.certPath },
    });
    child.on("exit", (code) => process.exit(code ?? 1));
    return;
  }

  log(`Generating a tenant of ${opts.assignments} assignments over ${opts.packages} access packages…`);
  const tenant = generateLargeTenant({
    assignments: num("assignments"),
    packages: num("packages"),
    focus: singleLatencies.flatMap(() => [1, 5, 20, 100]),
    burstUsers: num("burst"),
    burstAssignmentsPerUser: 2,
  });
  const scenarioFile = join(DEFAULT_CERT_DIR, "bench-scenario.json");
  writeFileSync(scenarioFile, JSON.stringify({ ...tenant.scenario, latencyMs: num("latency"), pageSize: 100 }));

  const fakeProcess = spawn(
    process.execPath,
    [...process.execArgv, join(ROOT, "test", "fake-tenant", "main.ts"), "--scenario", scenarioFile, "--port", "0", "--machine"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const azurite = await startAzurite();
  // The app's table calls go through a logging pass-through, so that round trips count them.
  const tableEndpoint = /TableEndpoint=([^;]+)/.exec(azurite.connectionString)?.[1] ?? "";
  const tableProxy = await startTableProxy(new URL(tableEndpoint));
  const proxied = azurite.connectionString.replace(tableEndpoint, `${tableProxy.url}${new URL(tableEndpoint).pathname}`);
  try {
    const ready = await new Promise<{ settings: Record<string, string>; control: string }>((resolve, reject) => {
      const lines = createInterface({ input: fakeProcess.stdout });
      lines.on("line", (line) => {
        if (line.startsWith("FAKE_TENANT_READY ")) resolve(JSON.parse(line.slice("FAKE_TENANT_READY ".length)));
      });
      fakeProcess.on("exit", (code) => reject(new Error(`fake tenant exited (${code})`)));
    });
    const control = async <T>(path: string, init?: RequestInit): Promise<T> => {
      const res = await fetch(`${ready.control}${path}`, init);
      return (res.status === 204 ? undefined : await res.json()) as T;
    };
    // 1 and 3 run in the app worker: the app bundled as it is deployed, in a plain Node process.
    log("1. One incident per user size; 3. burst (in the app worker)…");
    const job: Job = {
      settings: appSettings(ready.settings, proxied),
      control: ready.control,
      tableLog: tableProxy.url,
      warmUp: tenant.warmUpIncident,
      faultIncident: tenant.faultIncident,
      // Each latency gets users and access packages of its own, so that its cold rows are cold.
      single: tenant.focus.flatMap((f, n) => {
        const latencyMs = singleLatencies[Math.floor(n / 4)] as number;
        return [
          { assignments: f.assignments, variant: "group known, cold cache", incident: f.coldIncident, latencyMs },
          { assignments: f.assignments, variant: "group known, warm cache", incident: f.warmIncident, latencyMs },
        ];
      }),
      latencyMs: num("latency"),
      burst: { incidents: tenant.burstIncidents, concurrency: num("concurrency"), budget: num("budget"), instances: num("instances") },
    };
    const jobFile = join(DEFAULT_CERT_DIR, "bench-job.json");
    writeFileSync(jobFile, JSON.stringify(job));
    const workerFile = join(DEFAULT_CERT_DIR, "bench-app-worker.js");
    await build({
      entryPoints: [join(__dirname, "app-worker.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      format: "cjs",
      minify: true,
      external: ["@azure/functions-core"],
      outfile: workerFile,
      logLevel: "warning",
    });
    // The worker runs with Node's defaults, as the deployed Functions worker does; BENCH_NODE_FLAGS
    // adds V8 flags (e.g. "--max-old-space-size=128" to prove the app fits a smaller heap).
    const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? "").split(" ").filter(Boolean);
    // Not spawnSync: this process serves the state table's logging pass-through meanwhile.
    const worker = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [...nodeFlags, workerFile, jobFile], { env: { ...process.env } });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
      child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
      child.on("error", reject);
      child.on("close", (status) =>
        resolve({ status, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
      );
    });
    if (worker.status !== 0) throw new Error(`app worker failed: ${worker.stderr}`);
    if (process.env.BENCH_TRACE) process.stderr.write(worker.stderr);
    const app = JSON.parse(worker.stdout) as {
      single: {
        assignments: number;
        variant: string;
        ms: number;
        roundTrips: number;
        requests: number;
        tableCalls: number;
        outcome: string;
        reprocessed: number;
      }[];
      nextLink: { status: number; ms: number; pages: number; rssBeforeMB: number; peakRssMB: number };
      burst: Record<string, any>;
    };
    const single = app.single;

    // 2. The runbook pattern, for the 20-assignment user, against the app's run for the same work.
    log("2. The runbook request pattern (pages through every assignment)…");
    const config = loadConfig(appSettings(ready.settings, azurite.connectionString));
    const twenty = tenant.focus.find((f) => f.assignments === 20);
    const appRun = single.find((s) => s.assignments === 20 && s.variant === "group known, warm cache");
    let runbook: { ms: number; pages: number; reprocessed: number } | undefined;
    if (twenty && appRun) {
      const started = performance.now();
      const r = await runbookPattern(createCredential(config.identity), config.graphEndpoint, twenty.userId);
      runbook = { ms: performance.now() - started, ...r };
    }

    const state = await control<{ incidents: Record<string, string>; reprocessed: number }>("/state");
    const closed = tenant.burstIncidents.filter((i) => state.incidents[i] === "Closed").length;
    const burst = {
      ...app.burst,
      incidents: tenant.burstIncidents.length,
      closed,
      lost: tenant.burstIncidents.length - closed,
      budget: num("budget"),
    };
    const { workspace } = tenant.scenario;

    // 4. Cold start: a fresh Node process loading the bundled entry point.
    log("4. Cold start…");
    const entry = join(ROOT, "dist", "index.js");
    const loads: number[] = [];
    for (let i = 0; i < num("cold-runs"); i++) {
      const r = spawnSync(
        process.execPath,
        [
          ...nodeFlags,
          "-e",
          `const t=process.hrtime.bigint();require(${JSON.stringify(entry)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`,
        ],
        {
          env: {
            PATH: process.env.PATH ?? "",
            SENTINEL_SUBSCRIPTION_ID: workspace.subscriptionId,
            SENTINEL_RESOURCE_GROUP: workspace.resourceGroup,
            SENTINEL_WORKSPACE_NAME: workspace.name,
            SENTINEL_RULE_IDS: BENCH_RULE_ID,
            STATE_TABLE_CONNECTION: azurite.connectionString,
          },
          encoding: "utf8",
        },
      );
      if (r.status !== 0) throw new Error(`loading ${entry} failed: ${r.stderr}`);
      loads.push(Number(r.stdout));
    }
    const packageFiles = ["dist/index.js", "host.json", "package.json"];
    const packageBytes = packageFiles.reduce((n, f) => n + statSync(join(ROOT, f)).size, 0);
    const coldStart = {
      medianLoadMs: median(loads),
      minLoadMs: Math.min(...loads),
      maxLoadMs: Math.max(...loads),
      runs: loads.length,
      packageFiles,
      packageKB: packageBytes / 1024,
    };

    const report = {
      machine: { node: process.version, cpus: (await import("node:os")).cpus().length, platform: process.platform },
      settings: {
        latencyMs: num("latency"),
        assignments: num("assignments"),
        packages: num("packages"),
        nodeFlags: nodeFlags.join(" ") || "(Node defaults)",
      },
      single,
      runbook: runbook && appRun ? { ...runbook, appMs: appRun.ms, ratio: runbook.ms / appRun.ms } : undefined,
      burst,
      coldStart,
      nextLink: { ...app.nextLink, maxPages: config.limits.maxPages },
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(render(report));
  } finally {
    fakeProcess.kill("SIGTERM");
    await tableProxy.close();
    await azurite.stop();
  }
}

/**
 * The app's settings for the benchmark: the fake tenant's, the rule, the state table in Azurite,
 * and an hourly cap above the burst (the cap is a safety limit, not what is measured here).
 */
function appSettings(fake: Record<string, string>, stateConnection: string): Record<string, string> {
  return { ...fake, SENTINEL_RULE_IDS: BENCH_RULE_ID, STATE_TABLE_CONNECTION: stateConnection, MAX_USERS_RESTORED_PER_HOUR: "100000" };
}

function render(r: any): string {
  const out: string[] = [];
  out.push(
    `Benchmark — Node ${r.machine.node}, ${r.machine.cpus} CPUs; fake tenant: ${r.settings.assignments} assignments, ${r.settings.packages} packages, ${r.settings.latencyMs} ms per request`,
    "",
  );
  out.push(
    "1. One incident (warm instance)",
    "   latency | assignments | case                     | wall ms | round trips | requests | table calls | reprocessed",
  );
  for (const s of r.single)
    out.push(
      `   ${`${s.latencyMs} ms`.padStart(7)} | ${String(s.assignments).padStart(11)} | ${s.variant.padEnd(24)} | ${s.ms.toFixed(0).padStart(7)} | ${String(s.roundTrips).padStart(11)} | ${String(s.requests).padStart(8)} | ${String(s.tableCalls).padStart(11)} | ${String(s.reprocessed).padStart(11)}`,
    );
  if (r.runbook) {
    out.push(
      "",
      "2. Against the runbook pattern (user with 20 delivered assignments; the runbook reprocesses all, the app the one granting the lost group)",
    );
    out.push(
      `   runbook pattern: ${(r.runbook.ms / 1000).toFixed(1)} s (${r.runbook.pages} pages, ${r.runbook.reprocessed} reprocessed one by one)`,
    );
    out.push(`   this app:        ${(r.runbook.appMs / 1000).toFixed(3)} s`, `   ratio:           ${r.runbook.ratio.toFixed(0)}× faster`);
  }
  const b = r.burst;
  out.push("", `3. Burst: ${b.incidents} incidents, Graph budget ${b.budget} req/s, ${b.instances} instance(s)`);
  out.push(`   time ${b.seconds.toFixed(1)} s; closed ${b.closed}; lost ${b.lost}; assignments reprocessed ${b.assignmentsReprocessed}`);
  out.push(
    `   Graph: ${b.graphRequests} requests, ${b.throttled429} answered 429; achieved ${b.achievedGraphRate.toFixed(1)} req/s = ${(b.budgetUsed * 100).toFixed(0)}% of budget; playbook retries ${b.playbookRetries}`,
  );
  out.push(
    `   app process (node ${r.settings.nodeFlags}): peak RSS ${b.peakRssMB.toFixed(0)} MB, peak heap ${b.peakHeapMB.toFixed(0)} MB (RSS ${b.loadedRssMB.toFixed(0)} MB once loaded, ${b.warmRssMB.toFixed(0)} MB after the first incident, ${b.baselineRssMB.toFixed(0)} MB before the burst)`,
  );
  const c = r.coldStart;
  out.push(
    "",
    `4. Cold start: entry point loads in ${c.medianLoadMs.toFixed(0)} ms median (min ${c.minLoadMs.toFixed(0)}, max ${c.maxLoadMs.toFixed(0)}, ${c.runs} runs)`,
  );
  out.push(`   deployment package: ${c.packageKB.toFixed(0)} KB (${c.packageFiles.join(", ")})`, "");
  const n = r.nextLink;
  out.push(`5. Graph next link pointing to its own page (100 items per page, on every listing)`);
  out.push(
    `   answered ${n.status} after ${n.ms.toFixed(0)} ms; pages read ${n.pages} (GRAPH_MAX_PAGES ${n.maxPages}); RSS ${n.rssBeforeMB.toFixed(0)} MB before, peak ${n.peakRssMB.toFixed(0)} MB`,
    "",
  );
  return out.join("\n");
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
