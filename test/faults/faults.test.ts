/**
 * The fault matrix: each row injects a fault in the fake tenant, drives the real handler and
 * clients, and compares the observed outcome with the expected one. `npm run test:faults`
 * prints the matrix (test-results/faults-matrix.json).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { FaultInput } from "../fake-tenant/scenario";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, depsFor, TenantBuilder, type Called } from "../helpers";

interface Row {
  scenario: string;
  expected: string;
  observed: string;
}
const matrix: Row[] = [];
export const MATRIX_FILE = join(__dirname, "..", "..", "test-results", "faults-matrix.json");

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});
afterAll(() => {
  mkdirSync(join(MATRIX_FILE, ".."), { recursive: true });
  writeFileSync(MATRIX_FILE, JSON.stringify(matrix, null, 2));
});

/** One user with two delivered assignments, one incident. */
async function setup() {
  const t = new TenantBuilder();
  const user = t.user("u");
  const a1 = t.assign(user, t.accessPackage("P1", []));
  const a2 = t.assign(user, t.accessPackage("P2", []));
  const incident = t.incident({ accounts: [user] });
  fake = await FakeTenant.start({ scenario: t.scenario });
  // Short per-attempt timeouts so that "hangs" resolve quickly.
  const deps = depsFor(fake, {}, { requestTimeoutMs: 1_500 });
  return { fake, deps, incident, a1, a2, body: fake.triggerBody(incident) };
}

/** What happened, in the matrix's words. */
function observe(f: FakeTenant, incident: string, res: Called): string {
  const i = f.incidents.get(incident);
  const what = res.body?.outcome ?? res.body?.error?.code;
  return `${res.status} ${what}; incident ${i?.status ?? "deleted"}; comments ${i?.comments.size ?? 0}`;
}

function row(scenario: string, expected: string, run: () => Promise<string>, timeout = 20_000) {
  it(
    scenario,
    async () => {
      const observed = await run();
      matrix.push({ scenario, expected, observed });
      expect(observed).toBe(expected);
    },
    timeout,
  );
}

const graphList: FaultInput = { service: "graph", method: "GET", path: "/assignments$" };
const graphReprocess: FaultInput = { service: "graph", method: "POST", path: "/reprocess$" };

describe("fault matrix", () => {
  row("Graph 429 with Retry-After on the assignment list", "200 remediated; incident Closed; comments 1; waited ≥1s", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, status: 429, retryAfter: 1 });
    const started = Date.now();
    const res = await callWebhook(s.deps, s.body);
    return `${observe(s.fake, s.incident, res)}; waited ${Date.now() - started >= 1000 ? "≥" : "<"}1s`;
  });

  row("Graph 503 burst on reprocess (2 in a row)", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphReprocess, status: 503, retryAfter: 0, times: 2 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Graph 504 burst on the assignment list (2 in a row)", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, status: 504, retryAfter: 0, times: 2 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Graph reprocess hangs past the per-request timeout once", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphReprocess, latencyMs: 4_000 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Graph connection reset on the assignment list", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, reset: true });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Graph hangs on every attempt", "503 GraphFailure; incident New; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, latencyMs: 4_000, times: 0 });
    const res = await callWebhook(s.deps, s.body);
    expect(res.body.error.message).toContain("no answer within 1500 ms");
    return observe(s.fake, s.incident, res);
  });

  row("Graph 429 that does not clear", "503 GraphThrottled; incident New; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, status: 429, retryAfter: 0, times: 0 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Graph 403 on reprocess (EntitlementManagement.ReadWrite.All missing)", "502 failed; incident New; comments 1; comment and response name the permission", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphReprocess, status: 403, times: 0 });
    const res = await callWebhook(s.deps, s.body);
    const comment = [...(s.fake.incidents.get(s.incident)?.comments.values() ?? [])][0]?.message ?? "";
    const permission = "EntitlementManagement.ReadWrite.All";
    const named = comment.includes(permission) && JSON.stringify(res.body).includes(permission);
    return `${observe(s.fake, s.incident, res)}; comment and response ${named ? "name" : "do not name"} the permission`;
  });

  row("Graph 401 on the assignment list", "502 GraphAccessDenied; incident New; comments 1; comment and response name the permission", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, status: 401, times: 0 });
    const res = await callWebhook(s.deps, s.body);
    const comment = [...(s.fake.incidents.get(s.incident)?.comments.values() ?? [])][0]?.message ?? "";
    const permission = "EntitlementManagement.ReadWrite.All";
    const named = comment.includes(permission) && String(res.body.error?.message).includes(permission);
    return `${observe(s.fake, s.incident, res)}; comment and response ${named ? "name" : "do not name"} the permission`;
  });

  row("Sentinel 409 stale etag on close", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "PUT", path: `/incidents/${s.incident}$`, etagConflict: true, times: 2 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Sentinel connection reset on the entities call", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "POST", path: "/entities$", reset: true });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Sentinel incident read hangs past the per-request timeout once", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "GET", path: `/incidents/${s.incident}$`, latencyMs: 4_000 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Sentinel 404: incident deleted before the webhook", "404 IncidentNotFound; incident deleted; comments 0; reprocessed 0", async () => {
    const s = await setup();
    s.fake.incidents.delete(s.incident);
    const res = await callWebhook(s.deps, s.body);
    return `${observe(s.fake, s.incident, res)}; reprocessed ${s.fake.reprocessed.size}`;
  });

  row("Sentinel 404: incident deleted while being remediated", "404 IncidentNotFound; incident New; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "PUT", path: `/incidents/${s.incident}$`, status: 404, times: 0 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Sentinel 5xx on the comment: not closed, the retry finishes", "502 SentinelFailure; incident New; comments 0 → retry: 200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "PUT", path: "/comments/", status: 500, times: 0 });
    const first = observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
    s.fake.clearFaults();
    return `${first} → retry: ${observe(s.fake, s.incident, await callWebhook(s.deps, s.body))}`;
  });

  row("Partial failure: one reprocess fails, the retry finishes", "502 failed; incident New; comments 1 → retry: 200 remediated; incident Closed; comments 2", async () => {
    const s = await setup();
    s.fake.addFault({ service: "graph", method: "POST", path: `${s.a2}/reprocess$`, status: 500, times: 0 });
    const first = observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
    s.fake.clearFaults();
    return `${first} → retry: ${observe(s.fake, s.incident, await callWebhook(s.deps, s.body))}`;
  });

  row("Two deliveries of the same incident at once", "200/200; incident Closed; comments 1; closes 1", async () => {
    const s = await setup();
    const [a, b] = await Promise.all([callWebhook(s.deps, s.body), callWebhook(s.deps, s.body)]);
    const closes = s.fake.requests.filter((r) => r.service === "arm" && r.method === "PUT" && r.path.endsWith(s.incident) && r.status === 200).length;
    const i = s.fake.incidents.get(s.incident);
    return `${a.status}/${b.status}; incident ${i?.status}; comments ${i?.comments.size}; closes ${closes}`;
  });

  row("A delivery after the incident was closed", "200 already-closed; incident Closed; comments 1", async () => {
    const s = await setup();
    await callWebhook(s.deps, s.body);
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Slow services: the answer comes by the deadline", "503 DeadlineExceeded within the deadline → retry: 200 remediated", async () => {
    const s = await setup();
    // Six sequential calls at 800 ms each would take about 5 s; the deadline is 1 s.
    s.fake.latencyMs = 800;
    const started = Date.now();
    const first = await callWebhook(s.deps, s.body, { deadlineMs: 1_000 });
    const elapsed = Date.now() - started;
    s.fake.latencyMs = 0;
    await new Promise((r) => setTimeout(r, 3_000)); // let the abandoned run finish
    const retry = await callWebhook(s.deps, s.body);
    const outcome = retry.body.outcome === "already-closed" ? "remediated" : retry.body.outcome;
    return `${first.status} ${first.body.error?.code} ${elapsed < 2_500 ? "within" : "after"} the deadline → retry: ${retry.status} ${outcome}`;
  });

  row("429 inside a $batch response", "n/a: the app sends no $batch requests", async () => {
    const s = await setup();
    await callWebhook(s.deps, s.body);
    const batches = s.fake.requests.filter((r) => r.path.endsWith("/$batch")).length;
    return batches === 0 ? "n/a: the app sends no $batch requests" : `${batches} $batch requests`;
  });
});
