/**
 * The app side of the benchmark. bench.ts bundles this file with esbuild, as the deployed app is
 * bundled, and runs it in a plain Node process so that the memory figures are the app's own.
 * Input: a job file (argv[2]); output: one JSON document on stdout.
 */
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { HttpRequest, InvocationContext } from "@azure/functions";
import { buildDeps } from "../../src/clients";
import { loadConfig } from "../../src/config";
import { createRemediateHandler } from "../../src/functions/remediateIncident";
import type { RecordedRequest } from "../fake-tenant/server";

export interface Job {
  settings: Record<string, string>;
  control: string;
  /** The state table's logging pass-through (GET/POST /_proxy/requests). */
  tableLog: string;
  warmUp: string;
  faultIncident: string;
  single: { assignments: number; variant: string; incident: string; latencyMs: number }[];
  /** The fake's latency for everything but section 1's rows. */
  latencyMs: number;
  /**
   * `instances` function-app instances share the budget: each has its own clients (and so its own
   * learned Graph rate, connections and token cache), as scaled-out instances do; incidents go to
   * them in turn.
   */
  burst: { incidents: string[]; concurrency: number; budget: number; instances: number };
}

/** Sequential round trips: a request starts a new one when it began after everything before it had ended. */
export function roundTrips(requests: Pick<RecordedRequest, "start" | "end">[]): number {
  let waves = 0;
  let end = -Infinity;
  for (const r of [...requests].sort((a, b) => a.start - b.start)) {
    if (r.start >= end) waves++;
    end = Math.max(end, r.end);
  }
  return waves;
}

/** At most `max` deliveries at once, like the playbook runs Sentinel starts in parallel. */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    while (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** What `sampled` adds to a result: memory before and at the peak, in MB. */
interface Memory {
  rssBeforeMB: number;
  peakRssMB: number;
  peakHeapMB: number;
  /** process.memoryUsage() when RSS peaked, in MB. */
  atPeakMB: Record<string, number>;
}

/** Runs fn while sampling the process's memory every 10 ms; returns its result with the figures. */
async function sampled<T extends object>(fn: () => Promise<T>): Promise<T & Memory> {
  const before = process.memoryUsage();
  let atPeak = before;
  let peakHeap = before.heapUsed;
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss > atPeak.rss) atPeak = m;
    peakHeap = Math.max(peakHeap, m.heapUsed);
  };
  const sampler = setInterval(sample, 10);
  try {
    const result = await fn();
    sample();
    const mb = (bytes: number) => bytes / 2 ** 20;
    return {
      ...result,
      rssBeforeMB: mb(before.rss),
      peakRssMB: mb(atPeak.rss),
      peakHeapMB: mb(peakHeap),
      atPeakMB: Object.fromEntries(Object.entries(atPeak).map(([k, v]) => [k, Math.round(mb(v))])),
    };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2] ?? "", "utf8")) as Job;
  const control = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${job.control}${path}`, init);
    return (res.status === 204 ? undefined : await res.json()) as T;
  };
  const config = loadConfig(job.settings);
  const deps = buildDeps(config);
  const handler = createRemediateHandler(() => deps);
  const instances = Array.from({ length: Math.max(1, job.burst.instances) }, (_, n) => {
    if (n === 0) return handler;
    const own = buildDeps(config);
    return createRemediateHandler(() => own);
  });
  const deliver = async (incident: string, instance = handler) => {
    // The body Sentinel's incident trigger would send, entities included (not timed).
    const body = JSON.stringify(await control(`/trigger-body/${incident}`));
    const started = performance.now();
    const res = await instance(
      new HttpRequest({
        method: "POST",
        url: "https://bench/api/remediateIncident",
        headers: { "content-type": "application/json" },
        body: { string: body },
      }),
      new InvocationContext({ invocationId: randomUUID(), functionName: "remediateIncident", logHandler: () => undefined }),
    );
    const r = res as { status?: number; jsonBody?: { outcome?: string; reprocessed?: unknown[] } };
    return {
      status: r.status ?? 200,
      outcome: r.jsonBody?.outcome,
      reprocessed: r.jsonBody?.reprocessed?.length ?? 0,
      ms: performance.now() - started,
    };
  };

  const loadedRssMB = process.memoryUsage().rss / 2 ** 20;
  // A warm instance: token acquired, connections open.
  await deliver(job.warmUp);
  const warmRssMB = process.memoryUsage().rss / 2 ** 20;
  const single = [];
  const setLatency = (ms: number) => control("/latency", { method: "PUT", body: JSON.stringify({ ms }) });
  for (const s of job.single) {
    await setLatency(s.latencyMs);
    await Promise.all([control("/requests/clear", { method: "POST" }), fetch(`${job.tableLog}/_proxy/requests/clear`, { method: "POST" })]);
    const r = await deliver(s.incident);
    const tableCalls = (await (await fetch(`${job.tableLog}/_proxy/requests`)).json()) as (Omit<RecordedRequest, "service"> & {
      service: "table";
    })[];
    const requests = [...(await control<RecordedRequest[]>("/requests")).filter((r) => !r.path.startsWith("/_fake/")), ...tableCalls];
    if (process.env.BENCH_TRACE) {
      const t0 = Math.min(...requests.map((r) => r.start));
      process.stderr.write(
        `${s.assignments} ${s.variant}\n${requests.map((r) => `  ${r.service} ${r.method} ${r.path.slice(-24)} ${(r.start - t0).toFixed(0)}-${(r.end - t0).toFixed(0)}`).join("\n")}\n`,
      );
    }
    single.push({
      latencyMs: s.latencyMs,
      assignments: s.assignments,
      variant: s.variant,
      ms: r.ms,
      roundTrips: roundTrips(requests),
      requests: requests.length - tableCalls.length,
      tableCalls: tableCalls.length,
      outcome: r.outcome,
      reprocessed: r.reprocessed,
    });
  }
  await setLatency(job.latencyMs);

  // A Graph next link pointing to its own page, on every listing: the run must stop at a bound, not grow.
  const nextLink = await sampled(async () => {
    const self = `${job.settings.GRAPH_ENDPOINT ?? ""}/v1.0/identityGovernance/entitlementManagement/assignments?$skiptoken=loop`;
    const page = JSON.stringify({
      value: Array.from({ length: 100 }, (_, i) => ({ id: `loop-${i}`, state: "delivered", accessPackage: { id: randomUUID() } })),
      "@odata.nextLink": self,
    });
    await control("/faults", {
      method: "POST",
      body: JSON.stringify({ service: "graph", method: "GET", path: "/assignments$", body: page, times: 0 }),
    });
    await control("/requests/clear", { method: "POST" });
    try {
      const r = await deliver(job.faultIncident);
      const pages = (await control<RecordedRequest[]>("/requests")).filter(
        (q) => q.service === "graph" && q.path.endsWith("/assignments"),
      ).length;
      return { status: r.status, ms: r.ms, pages };
    } finally {
      await control("/faults", { method: "DELETE" });
    }
  });

  // Burst under the Graph budget, with the playbook's retry policy (4 retries, exponential backoff).
  await control("/rate-limits", { method: "PUT", body: JSON.stringify([{ service: "graph", perSecond: job.burst.budget }]) });
  await control("/requests/clear", { method: "POST" });
  const slot = limiter(job.burst.concurrency);
  const burst = await sampled(async () => {
    let playbookRetries = 0;
    const started = performance.now();
    const results = await Promise.all(
      job.burst.incidents.map((incident, n) =>
        slot(async () => {
          for (let attempt = 0; ; attempt++) {
            const r = await deliver(incident, instances[n % instances.length]);
            if (r.status < 500 || attempt >= 4) return r;
            playbookRetries++;
            await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt));
          }
        }),
      ),
    );
    return { results, playbookRetries, seconds: (performance.now() - started) / 1000 };
  });
  await control("/rate-limits", { method: "PUT", body: "[]" });
  const graph = (await control<RecordedRequest[]>("/requests")).filter((r) => r.service === "graph" && !r.path.startsWith("/_fake/"));
  const served = graph.filter((r) => r.status !== 429).length;
  const graphSpan = (Math.max(...graph.map((r) => r.end)) - Math.min(...graph.map((r) => r.start))) / 1000;
  process.stdout.write(
    JSON.stringify({
      single,
      nextLink,
      burst: {
        seconds: burst.seconds,
        answered: burst.results.map((r) => r.status),
        assignmentsReprocessed: burst.results.reduce((n, r) => n + r.reprocessed, 0),
        instances: instances.length,
        graphRequests: graph.length,
        throttled429: graph.length - served,
        playbookRetries: burst.playbookRetries,
        achievedGraphRate: served / graphSpan,
        budgetUsed: served / graphSpan / job.burst.budget,
        loadedRssMB,
        warmRssMB,
        baselineRssMB: burst.rssBeforeMB,
        peakRssMB: burst.peakRssMB,
        peakHeapMB: burst.peakHeapMB,
        atPeakMB: burst.atPeakMB,
      },
    }),
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`app worker failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
}
