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
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import type { Deps } from "../../src/deps";
import { callWebhook, captureLog, depsFor, forcedDeadline, TenantBuilder, type Called } from "../helpers";

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
  const [g1, g2] = [t.group("g1"), t.group("g2")];
  const a1 = t.assign(user, t.accessPackage("P1", [g1]));
  const a2 = t.assign(user, t.accessPackage("P2", [g2]));
  const incident = t.incident({ accounts: [user], groups: [g1, g2] });
  fake = await FakeTenant.start({ scenario: t.scenario });
  // Short per-attempt timeouts so that "hangs" resolve quickly.
  const deps = depsFor(fake, {}, { requestTimeoutMs: 1_500, retryDelayMs: 50 });
  return { fake, deps, incident, a1, a2, body: fake.triggerBody(incident) };
}

const reprocessCalls = (f: FakeTenant) => [...f.reprocessed.values()].reduce((a, b) => a + b, 0);
const capUsed = async (deps: Deps) => (await deps.store.reserveRestores(0, 100_000, deps.now(), new AbortController().signal)).used;

/** What happened, in the matrix's words. */
function observe(f: FakeTenant, incident: string, res: Called): string {
  const i = f.incidents.get(incident);
  const what = res.body?.outcome ?? res.body?.error?.code;
  return `${res.status} ${what}; incident ${i?.status ?? "deleted"}; comments ${i?.comments.size ?? 0}`;
}

/** Whether the incident's first comment and `answer` (what the caller got) both name the missing permission, in the matrix's words. */
function permissionNamed(f: FakeTenant, incident: string, answer: string): string {
  const comment = [...(f.incidents.get(incident)?.comments.values() ?? [])][0]?.message ?? "";
  const permission = "EntitlementManagement.ReadWrite.All";
  const named = comment.includes(permission) && answer.includes(permission);
  return `comment and response ${named ? "name" : "do not name"} the permission`;
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

/** A run against `fault`, and whether it waited at least `seconds` (a lower bound: a slow machine only waits longer). */
async function observeWaiting(fault: FaultInput, seconds: number): Promise<string> {
  const s = await setup();
  s.fake.addFault(fault);
  const started = Date.now();
  const res = await callWebhook(s.deps, s.body);
  return `${observe(s.fake, s.incident, res)}; waited ${Date.now() - started >= seconds * 1000 ? "≥" : "<"}${seconds}s`;
}

const graphList: FaultInput = { service: "graph", method: "GET", path: "/assignments$" };
const graphReprocess: FaultInput = { service: "graph", method: "POST", path: "/reprocess$" };

describe("fault matrix", () => {
  row("Graph 429 with Retry-After on the assignment list", "200 remediated; incident Closed; comments 1; waited ≥1s", async () => {
    return observeWaiting({ ...graphList, status: 429, retryAfter: 1 }, 1);
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
    expect(res.body.error.message).toContain("no complete answer within 1500 ms");
    return observe(s.fake, s.incident, res);
  });

  row("Graph 429 that does not clear", "503 GraphThrottled; incident New; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphList, status: 429, retryAfter: 0, times: 0 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row(
    "Graph 403 on reprocess (EntitlementManagement.ReadWrite.All missing)",
    "502 failed; incident New; comments 1; comment and response name the permission",
    async () => {
      const s = await setup();
      s.fake.addFault({ ...graphReprocess, status: 403, times: 0 });
      const res = await callWebhook(s.deps, s.body);
      return `${observe(s.fake, s.incident, res)}; ${permissionNamed(s.fake, s.incident, JSON.stringify(res.body))}`;
    },
  );

  row(
    "Graph 401 on the assignment list",
    "502 GraphAccessDenied; incident New; comments 1; comment and response name the permission",
    async () => {
      const s = await setup();
      s.fake.addFault({ ...graphList, status: 401, times: 0 });
      const res = await callWebhook(s.deps, s.body);
      return `${observe(s.fake, s.incident, res)}; ${permissionNamed(s.fake, s.incident, String(res.body.error?.message))}`;
    },
  );

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

  row(
    "Sentinel 404: incident deleted before the webhook",
    "404 IncidentNotFound; incident deleted; comments 0; reprocessed 0",
    async () => {
      const s = await setup();
      s.fake.incidents.delete(s.incident);
      const res = await callWebhook(s.deps, s.body);
      return `${observe(s.fake, s.incident, res)}; reprocessed ${s.fake.reprocessed.size}`;
    },
  );

  row("Sentinel 404: incident deleted while being remediated", "404 IncidentNotFound; incident New; comments 0", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "PUT", path: `/incidents/${s.incident}$`, status: 404, times: 0 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row(
    "Sentinel 5xx on the comment after the close: the close stands and is reported, the classification comment says why",
    "200 remediated; incident Closed; comments 0 → retry: 200 already-closed",
    async () => {
      const s = await setup();
      s.fake.addFault({ service: "arm", method: "PUT", path: "/comments/", status: 500, times: 0 });
      const first = observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
      s.fake.clearFaults();
      const retry = await callWebhook(s.deps, s.body);
      return `${first} → retry: ${retry.status} ${retry.body.outcome}`;
    },
  );

  row(
    "Partial failure: one reprocess fails, the retry finishes",
    "502 failed; incident New; comments 1 → retry: 200 remediated; incident Closed; comments 2",
    async () => {
      const s = await setup();
      s.fake.addFault({ service: "graph", method: "POST", path: `${s.a2}/reprocess$`, status: 500, times: 0 });
      const first = observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
      s.fake.clearFaults();
      return `${first} → retry: ${observe(s.fake, s.incident, await callWebhook(s.deps, s.body))}`;
    },
  );

  row(
    "Two deliveries of the same incident at once: the second finds it leased",
    "200/202; incident Closed; comments 1; closes 1",
    async () => {
      const s = await setup();
      const [a, b] = await Promise.all([callWebhook(s.deps, s.body), callWebhook(s.deps, s.body)]);
      const closes = s.fake.requests.filter(
        (r) => r.service === "arm" && r.method === "PUT" && r.path.endsWith(s.incident) && r.status === 200,
      ).length;
      const i = s.fake.incidents.get(s.incident);
      return `${[a.status, b.status].sort().join("/")}; incident ${i?.status}; comments ${i?.comments.size}; closes ${closes}`;
    },
  );

  row("A delivery after the incident was closed", "200 already-closed; incident Closed; comments 1", async () => {
    const s = await setup();
    await callWebhook(s.deps, s.body);
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row(
    "Deadline, then the playbook's retry: exactly one reprocess wave, one close",
    "503 DeadlineExceeded within the deadline; nothing after it → retry: 200 remediated; reprocess calls 1; closes 1",
    async () => {
      const t = new TenantBuilder();
      const user = t.user("u");
      const group = t.group("g");
      t.assign(user, t.accessPackage("P", [group]));
      const incident = t.incident({ accounts: [user], groups: [group] });
      fake = await FakeTenant.start({ scenario: t.scenario });
      const s = { fake, incident, deps: depsFor(fake, {}, { requestTimeoutMs: 5_000 }), body: fake.triggerBody(incident) };
      // The deadline passes when the membership check is asked, after the wave was sent (forced
      // by the fake, not raced by the clock); that call stalls, as a slow Graph would.
      const deadline = forcedDeadline();
      let passedAt = 0;
      s.fake.addFault({ service: "graph", method: "GET", path: "/members$", latencyMs: 3_000 });
      s.fake.when({ service: "graph", method: "GET", path: /\/members$/ }, () => {
        passedAt = Date.now();
        deadline.pass();
      });
      const first = await callWebhook(s.deps, s.body, { deadline: deadline.start });
      const answeredIn = Date.now() - passedAt;
      const seen = s.fake.requests.length;
      // Anything abandoned would show up by the time the stalled call has ended.
      for (let i = 0; i < 200 && !s.fake.requests.some((r) => r.path.endsWith("/members")); i++)
        await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200));
      const after = s.fake.requests.slice(seen).filter((r) => r.service !== "login" && !r.path.endsWith("/members")).length;
      const retry = await callWebhook(s.deps, s.body);
      const reprocessCalls = [...s.fake.reprocessed.values()].reduce((a, b) => a + b, 0);
      const closes = s.fake.requests.filter(
        (r) => r.service === "arm" && r.method === "PUT" && r.path.endsWith(s.incident) && r.status === 200,
      ).length;
      return `${first.status} ${first.body.error?.code} ${passedAt > 0 && answeredIn < 3_000 ? "within" : "after"} the deadline; ${after === 0 ? "nothing after it" : `${after} calls after it`} → retry: ${retry.status} ${retry.body.outcome}; reprocess calls ${reprocessCalls}; closes ${closes}`;
    },
    40_000,
  );

  row(
    "Sweeper behind 1,000 newer New incidents of other rules (and one past the maximum age)",
    "remediated ours; ancient New, untouched; incident list pages 6 of 25",
    async () => {
      const t = new TenantBuilder();
      const ours = t.removal("ours", 60);
      const ancient = t.removal("ancient", 73 * 60);
      // Newer than ours (created 11-59 minutes ago), past the 10-minute grace: they come first, newest first.
      for (let i = 0; i < 1_000; i++)
        t.incident({ accounts: [], ruleIds: ["0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab"], createdMinutesAgo: 11 + (i % 48) });
      fake = await FakeTenant.start({ scenario: t.scenario });
      const summary = await sweepOpenIncidents(depsFor(fake), captureLog(), new AbortController().signal, SWEEP_DEFAULTS);
      const pages = fake.requests.filter((r) => r.service === "arm" && r.method === "GET" && r.path.endsWith("/incidents")).length;
      const oursDone = summary.ran.remediated?.includes(ours.incident) && fake.incidents.get(ours.incident)?.status === "Closed";
      const ancientUntouched = fake.incidents.get(ancient.incident)?.status === "New" && !fake.reprocessed.has(ancient.assignment);
      return `${oursDone ? "remediated ours" : "ours not remediated"}; ancient ${fake.incidents.get(ancient.incident)?.status}, ${ancientUntouched ? "untouched" : "acted on"}; incident list pages ${pages} of ${SWEEP_DEFAULTS.maxPages}`;
    },
    60_000,
  );

  row("Graph next page link pointing to itself", "502 GraphFailure; incident New; comments 1; pages read 2", async () => {
    const s = await setup();
    const self = `${s.fake.urls.graph}/v1.0/identityGovernance/entitlementManagement/assignments?$skiptoken=loop`;
    s.fake.addFault({ ...graphList, body: JSON.stringify({ value: [], "@odata.nextLink": self }), times: 0 });
    const res = await callWebhook(s.deps, s.body);
    const pages = s.fake.requests.filter((r) => r.service === "graph" && r.path.endsWith("/assignments")).length;
    return `${observe(s.fake, s.incident, res)}; pages read ${pages}`;
  });

  row(
    "A user with 50,000 assignments (beyond MAX_ASSIGNMENTS_PER_USER, then GRAPH_MAX_PAGES)",
    "200 held; incident New; comments 1; pages read 6; reprocessed 0 | pages read 20",
    async () => {
      const t = new TenantBuilder();
      const user = t.user("many");
      const group = t.group("g");
      const pkg = t.accessPackage("P", [group]);
      for (let i = 0; i < 50_000; i++) t.assign(user, pkg);
      const incident = t.incident({ accounts: [user], groups: [group] });
      fake = await FakeTenant.start({ scenario: t.scenario });
      const listings = () => fake!.requests.filter((r) => r.service === "graph" && r.path.endsWith("/assignments")).length;
      const res = await callWebhook(depsFor(fake), fake.triggerBody(incident));
      const first = `${observe(fake, incident, res)}; pages read ${listings()}; reprocessed ${fake.reprocessed.size}`;
      const before = listings();
      await callWebhook(depsFor(fake, { MAX_ASSIGNMENTS_PER_USER: "100000" }), fake.triggerBody(incident));
      return `${first} | pages read ${listings() - before}`;
    },
    60_000,
  );

  // No wall-clock bound tighter than the fault itself: the claim is "gave up after the policy's
  // attempts, long before one stalled answer would have ended", which holds on a slow machine too.
  row(
    "Graph answer stalls mid-body on every attempt",
    "503 GraphFailure; incident New; comments 1; attempts 4; before one stall ended",
    async () => {
      const s = await setup();
      s.fake.addFault({ ...graphList, stallMs: 60_000, times: 0 });
      const started = Date.now();
      const res = await callWebhook(s.deps, s.body);
      const attempts = s.fake.requests.filter((r) => r.service === "graph" && r.path.endsWith("/assignments")).length;
      return `${observe(s.fake, s.incident, res)}; attempts ${attempts}; ${Date.now() - started < 60_000 ? "before" : "after"} one stall ended`;
    },
    90_000,
  );

  row("ARM incident read stalls mid-body once", "200 remediated; incident Closed; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({
      service: "arm",
      method: "GET",
      path: `/incidents/${s.incident}$`,
      body: JSON.stringify({ id: "x", name: s.incident, properties: {} }),
      stallMs: 30_000,
    });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  for (const [what, body, type] of [
    ["HTML", "<html><body>Service unavailable</body></html>", "text/html"],
    ["plain text", "OK", "text/plain"],
    ["{}", "{}", "application/json"],
  ] as const) {
    row(`Graph answers 200 with ${what} to the assignment list`, "502 GraphFailure; incident New; comments 1; reprocessed 0", async () => {
      const s = await setup();
      s.fake.addFault({ ...graphList, body, contentType: type, times: 0 });
      const res = await callWebhook(s.deps, s.body);
      return `${observe(s.fake, s.incident, res)}; reprocessed ${s.fake.reprocessed.size}`;
    });
  }

  row("Graph answers 200 (not 202) to reprocess", "502 failed; incident New; comments 1", async () => {
    const s = await setup();
    s.fake.addFault({ ...graphReprocess, body: "{}", times: 0 });
    return observe(s.fake, s.incident, await callWebhook(s.deps, s.body));
  });

  row("Sentinel answers 200 with {} to the incident read", "502 SentinelFailure; incident New; comments 0; reprocessed 0", async () => {
    const s = await setup();
    s.fake.addFault({ service: "arm", method: "GET", path: `/incidents/${s.incident}$`, body: "{}", times: 0 });
    const res = await callWebhook(s.deps, s.body);
    return `${observe(s.fake, s.incident, res)}; reprocessed ${s.fake.reprocessed.size}`;
  });

  row(
    "412 on every close: no comment claims it closed",
    "502 SentinelFailure; incident New; comments 1; no comment says closed",
    async () => {
      const s = await setup();
      s.fake.addFault({ service: "arm", method: "PUT", path: `/incidents/${s.incident}$`, status: 412, times: 0 });
      const res = await callWebhook(s.deps, s.body);
      const comments = [...(s.fake.incidents.get(s.incident)?.comments.values() ?? [])].map((c) => c.message).join("\n");
      return `${observe(s.fake, s.incident, res)}; ${/incident is closed|closed as BenignPositive/.test(comments) ? "a comment says closed" : "no comment says closed"}`;
    },
  );

  // ── The world changes during the delivery wait (after the wave, before the close) ──
  /** Runs the webhook; when the app first reads the user's memberships (the wave is out), `edit` changes the incident. */
  async function raceDuringWait(edit: (i: Parameters<Parameters<FakeTenant["editIncident"]>[1]>[0]) => void): Promise<string> {
    const s = await setup();
    s.fake.when({ service: "graph", method: "GET", path: /\/members$/ }, () => s.fake.editIncident(s.incident, edit));
    const res = await callWebhook(s.deps, s.body);
    const i = s.fake.incidents.get(s.incident);
    return `${res.status} ${res.body.outcome}; incident ${i?.status}${i?.classification ? `/${i.classification}` : ""}; reprocess calls ${reprocessCalls(s.fake)}; cap used ${await capUsed(s.deps)}`;
  }

  row("Hold label added during the delivery wait", "200 held; incident New; reprocess calls 2; cap used 1", () =>
    raceDuringWait((i) => i.labels.push({ labelName: "no-auto-remediation", labelType: "User" })),
  );
  row("An analyst takes ownership during the delivery wait", "200 held; incident New; reprocess calls 2; cap used 1", () =>
    raceDuringWait((i) => (i.owner = { assignedTo: "Sam Analyst", objectId: "1b2c3d4e-5f60-4172-8394-a5b6c7d8e9f0", ownerType: "User" })),
  );
  row(
    "An analyst closes it as TruePositive during the delivery wait",
    "200 closed-by-other; incident Closed/TruePositive; reprocess calls 2; cap used 1",
    () =>
      raceDuringWait((i) =>
        Object.assign(i, { status: "Closed", classification: "TruePositive", classificationReason: "SuspiciousActivity" }),
      ),
  );
  row("Defender merges another product's alert during the delivery wait", "200 held; incident New; reprocess calls 2; cap used 1", () =>
    raceDuringWait((i) => {
      i.productNames.push("Microsoft Defender for Identity");
      i.ruleIds.push("0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab");
    }),
  );

  row(
    "Defender merges another removal alert of the rule (another user and group) during the delivery wait",
    "200 held; incident New; reprocess calls 2; cap used 1",
    () =>
      raceDuringWait((i) => {
        i.entities.push(
          { kind: "Account", properties: { aadUserId: "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", accountName: "other" } },
          { kind: "SecurityGroup", properties: { objectGuid: "6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c" } },
        );
      }),
  );

  // ── Failures after the wave: the retry verifies, it never reprocesses again or reserves the cap again ──
  async function failAfterWave(fault: FaultInput): Promise<string> {
    const s = await setup();
    s.fake.addFault({ ...fault, times: 0 });
    const first = await callWebhook(s.deps, s.body);
    s.fake.clearFaults();
    const retry = await callWebhook(s.deps, s.body);
    return `${first.status} ${first.body.outcome ?? first.body.error?.code} → retry: ${observe(s.fake, s.incident, retry)}; reprocess calls ${reprocessCalls(s.fake)}; cap used ${await capUsed(s.deps)}`;
  }

  row(
    "Membership read refused (403) after the wave",
    "502 GraphAccessDenied → retry: 200 remediated; incident Closed; comments 2; reprocess calls 2; cap used 1",
    () => failAfterWave({ service: "graph", method: "GET", path: "/members$", status: 403 }),
  );
  row(
    "Close answers 503 on every attempt",
    "503 SentinelFailure → retry: 200 remediated; incident Closed; comments 2; reprocess calls 2; cap used 1",
    () => failAfterWave({ service: "arm", method: "PUT", path: "/incidents/[^/]+$", status: 503, retryAfter: 0 }),
  );
  row(
    "Every comment fails while delivery is awaited",
    "502 SentinelFailure → retry: 200 remediated; incident Closed; comments 1; reprocess calls 2; cap used 1",
    async () => {
      const s = await setup();
      s.fake.addFault({ service: "arm", method: "PUT", path: "/comments/", status: 500, times: 0 });
      // Not delivered yet: the run wants to say "waiting", and cannot.
      s.fake.addFault({ service: "graph", method: "GET", path: "/members$", body: JSON.stringify({ value: [] }), times: 1 });
      const deps = depsFor(s.fake, { DELIVERY_CHECK_SECONDS: "0" }, { requestTimeoutMs: 1_500, retryDelayMs: 50 });
      const first = await callWebhook(deps, s.body);
      s.fake.clearFaults();
      const retry = await callWebhook(deps, s.body);
      return `${first.status} ${first.body.error?.code} → retry: ${observe(s.fake, s.incident, retry)}; reprocess calls ${reprocessCalls(s.fake)}; cap used ${await capUsed(deps)}`;
    },
  );

  row("Graph 429 without Retry-After, twice", "200 remediated; incident Closed; comments 1; waited ≥2s", async () => {
    return observeWaiting({ ...graphList, status: 429, times: 2 }, 2);
  });
});
