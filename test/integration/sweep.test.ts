/** The sweeper (timer) and the CLI's sweep against the fake tenant and Azurite, with the real clients. */
import { InvocationContext } from "@azure/functions";
import { afterEach, describe, expect, it } from "vitest";
import { buildDeps } from "../../src/clients";
import { loadConfig } from "../../src/config";
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import { sweepIncidents } from "../../src/functions/sweepIncidents";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, captureLog, depsFor, FAST, settingsFor, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const never = new AbortController().signal;
const sweep = (deps: ReturnType<typeof depsFor>, options: Partial<typeof SWEEP_DEFAULTS> = {}) =>
  sweepOpenIncidents(deps, captureLog(), never, { ...SWEEP_DEFAULTS, ...options });

describe("sweeper", () => {
  it("remediates an incident whose webhook never arrived; leaves young ones to their webhook", async () => {
    const t = new TenantBuilder();
    const old = t.removal("old", 30);
    const young = t.removal("young", 1);
    fake = await FakeTenant.start({ scenario: t.scenario });

    const summary = await sweep(depsFor(fake));

    expect(summary.ran.remediated).toEqual([old.incident]);
    expect(fake.incidents.get(old.incident)?.status).toBe("Closed");
    expect(fake.incidents.get(young.incident)?.status).toBe("New");
  });

  it("is not starved by 500 older incidents of other rules, and skips incidents past the maximum age", async () => {
    const t = new TenantBuilder();
    for (let i = 0; i < 500; i++)
      t.incident({ accounts: [], ruleIds: ["0d9a5e0e-f69c-4a34-aed7-f1fb1e3566ab"], createdMinutesAgo: 600 + i });
    const ours = t.removal("ours", 20);
    const ancient = t.removal("ancient", 73 * 60);
    fake = await FakeTenant.start({ scenario: t.scenario });

    const summary = await sweep(depsFor(fake), { pageSize: 50, maxPages: 2 });

    expect(summary.ran.remediated).toEqual([ours.incident]);
    expect(fake.incidents.get(ancient.incident)?.status).toBe("New");
    expect(fake.reprocessed.has(ancient.assignment)).toBe(false);
    // Asked server-side for New incidents in the window, newest first.
    const list = fake.requests.find((r) => r.service === "arm" && r.path.endsWith("/incidents"));
    expect(list?.query.$filter).toMatch(
      /^properties\/status eq 'New' and properties\/createdTimeUtc ge \S+ and properties\/createdTimeUtc le \S+$/,
    );
    expect(list?.query.$orderby).toBe("properties/createdTimeUtc desc");
  });

  it("after the switch to enforce, acts on incidents handled in dry run only when told to", async () => {
    const t = new TenantBuilder();
    const r = t.removal("dry", 30);
    fake = await FakeTenant.start({ scenario: t.scenario });
    const settings = settingsFor(fake);

    const dry = await sweepOpenIncidents(
      buildDeps(loadConfig({ ...settings, REMEDIATION_MODE: "dry-run" }), undefined, FAST),
      captureLog(),
      never,
      SWEEP_DEFAULTS,
    );
    expect(dry.ran["dry-run"]).toEqual([r.incident]);
    expect(fake.reprocessed.size).toBe(0);

    const enforcing = buildDeps(loadConfig(settings), undefined, FAST);
    const enforce = await sweepOpenIncidents(enforcing, captureLog(), never, SWEEP_DEFAULTS);
    expect(enforce.ran).toEqual({});
    expect(enforce.skipped).toEqual([r.incident]);
    expect(fake.reprocessed.size).toBe(0);

    const told = await sweepOpenIncidents(enforcing, captureLog(), never, { ...SWEEP_DEFAULTS, includeDryRun: true });
    expect(told.ran.remediated).toEqual([r.incident]);
  });

  it("a dry run by hand (sweep or replay --dry-run) of an enforcing deployment takes nothing from the timer", async () => {
    const t = new TenantBuilder();
    const swept = t.removal("swept", 30);
    const replayed = t.removal("replayed", 30);
    fake = await FakeTenant.start({ scenario: t.scenario });
    const settings = settingsFor(fake);
    const enforcing = buildDeps(loadConfig(settings), undefined, FAST);

    // An operator's look before anything happens: both incidents dry-run by hand.
    const look = await sweepOpenIncidents(enforcing, captureLog(), never, { ...SWEEP_DEFAULTS, dryRun: true });
    expect(look.ran["dry-run"]).toEqual(expect.arrayContaining([swept.incident, replayed.incident]));
    expect(fake.reprocessed.size).toBe(0);

    // The timer's next run handles them as if the look had not happened.
    const timer = await sweepOpenIncidents(enforcing, captureLog(), never, SWEEP_DEFAULTS);
    expect(timer.ran.remediated).toEqual(expect.arrayContaining([swept.incident, replayed.incident]));
    expect(fake.incidents.get(swept.incident)?.status).toBe("Closed");
    expect(fake.incidents.get(replayed.incident)?.status).toBe("Closed");
  });

  it("gives a failing incident a bounded number of attempts, then comments that it needs an admin", async () => {
    const t = new TenantBuilder();
    const r = t.removal("broken", 30);
    const fine = t.removal("fine", 40);
    fake = await FakeTenant.start({ scenario: t.scenario });
    fake.addFault({ service: "graph", method: "POST", path: `${r.assignment}/reprocess$`, status: 400, times: 0 });
    const deps = depsFor(fake, { SWEEP_MAX_ATTEMPTS: "2" });

    const first = await sweep(deps);
    expect(first.ran.failed).toEqual([r.incident]);
    expect(first.ran.remediated).toEqual([fine.incident]);
    await sweep(deps);
    const third = await sweep(deps);

    expect(third.skipped).toEqual([r.incident]);
    const comments = [...(fake.incidents.get(r.incident)?.comments.values() ?? [])].map((c) => c.message).join("\n");
    expect(comments).toContain("needs an admin");
    expect(fake.incidents.get(r.incident)?.status).toBe("New");
  });

  it("closes an incident once Entra ID delivers late, and stops with a comment when it never does", async () => {
    const t = new TenantBuilder();
    const late = t.removal("late", 30);
    fake = await FakeTenant.start({ scenario: { ...t.scenario, deliveryDelayMs: 1500 } });
    const deps = depsFor(fake, { DELIVERY_CHECK_SECONDS: "0" });

    const first = await callWebhook(deps, fake.triggerBody(late.incident));
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ outcome: "awaiting-delivery", closed: false, restored: [] });
    expect(first.body.notRestored).toEqual([
      expect.objectContaining({ userId: late.user, targetId: late.group, reason: "not delivered yet" }),
    ]);
    expect([...(fake.incidents.get(late.incident)?.comments.values() ?? [])][0]?.message).toContain("waiting for Entra ID to deliver");
    expect(fake.incidents.get(late.incident)?.status).toBe("New");

    await new Promise((r) => setTimeout(r, 1600));
    const summary = await sweep(deps);
    expect(summary.ran.remediated).toEqual([late.incident]);
    expect(fake.incidents.get(late.incident)?.status).toBe("Closed");
    // One reprocess wave only: the sweeper verified, it did not reprocess again.
    expect(fake.reprocessed.get(late.assignment)).toBe(1);

    // Never delivered: once DELIVERY_TIMEOUT_MINUTES have passed, a comment says so and the app stops.
    const t2 = new TenantBuilder();
    const lost = t2.removal("lost", 30);
    await fake.close();
    fake = await FakeTenant.start({ scenario: { ...t2.scenario, deliveryDelayMs: -1 } });
    const deps2 = depsFor(fake, { DELIVERY_CHECK_SECONDS: "0" });
    expect((await callWebhook(deps2, fake.triggerBody(lost.incident))).body.outcome).toBe("awaiting-delivery");
    expect((await sweep(deps2)).ran["awaiting-delivery"]).toEqual([lost.incident]);
    const later = { ...deps2, now: () => Date.now() + 3 * 3_600_000 };
    expect((await sweep(later)).ran["delivery-not-seen"]).toEqual([lost.incident]);
    expect((await sweep(later)).skipped).toEqual([lost.incident]);
    const comments = [...(fake.incidents.get(lost.incident)?.comments.values() ?? [])].map((c) => c.message).join("\n");
    expect(comments).toContain("Entra ID did not deliver within the time allowed");
    expect(fake.incidents.get(lost.incident)?.status).toBe("New");
    expect(fake.reprocessed.get(lost.assignment)).toBe(1);
  }, 30_000);

  it("the timer function runs a sweep with its own deadline", async () => {
    const t = new TenantBuilder();
    const r = t.removal("timer", 30);
    fake = await FakeTenant.start({ scenario: t.scenario });
    const deps = depsFor(fake);
    const logs: string[] = [];
    const context = new InvocationContext({
      invocationId: "sweep-1",
      functionName: "sweepIncidents",
      logHandler: (_l, ...a) => logs.push(a.join(" ")),
    });

    await sweepIncidents(
      { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: "", next: "", lastUpdated: "" } },
      context,
      () => deps,
    );

    expect(fake.incidents.get(r.incident)?.status).toBe("Closed");
    expect(logs.join("\n")).toMatch(/sweep: \d+ New incident\(s\) in the window, 1 of the configured rules; ran remediated 1/);
  });
});
