/** `access-package-remediation status` after a mix of runs: what waits, what is capped, failed or held, the cap and the last sweep. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildDeps } from "../../src/clients";
import { main } from "../../src/cli";
import { loadConfig } from "../../src/config";
import type { StatusView } from "../../src/core/status";
import { sweepOpenIncidents, SWEEP_DEFAULTS } from "../../src/core/sweep";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, captureLog, FAST, settingsFor, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await fake?.close();
  fake = undefined;
});

describe("status", () => {
  it("shows waiting, capped, failed and held incidents, the hourly cap and the last sweep", async () => {
    const t = new TenantBuilder();
    const waiting = t.removal("waiting", 30);
    const capped = t.removal("capped", 30);
    const failing = t.removal("failing", 30);
    const held = t.member("held");
    const heldIncident = t.incident({
      accounts: [held.user],
      groups: [held.group],
      labels: ["no-auto-remediation"],
      createdMinutesAgo: 30,
    });
    fake = await FakeTenant.start({ scenario: { ...t.scenario, deliveryDelayMs: -1 } });
    const settings = settingsFor(fake, { MAX_USERS_RESTORED_PER_HOUR: "1", DELIVERY_CHECK_SECONDS: "0", SWEEP_MAX_ATTEMPTS: "3" });
    const deps = buildDeps(loadConfig(settings), undefined, FAST);
    fake.addFault({ service: "graph", method: "GET", path: `/users/${failing.user}$`, status: 500, times: 0 });

    await callWebhook(deps, fake.triggerBody(waiting.incident));
    await callWebhook(deps, fake.triggerBody(failing.incident));
    await callWebhook(deps, fake.triggerBody(heldIncident));
    // The cap of 1 is used by the first: this one waits for the window.
    await callWebhook(deps, fake.triggerBody(capped.incident));
    await sweepOpenIncidents(deps, captureLog(), new AbortController().signal, { ...SWEEP_DEFAULTS, graceMs: 0 });

    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    expect(await main(["status", "--json"], settings)).toBe(0);
    const view = JSON.parse(out.join("")) as StatusView;

    const ids = (list: { incident: string }[]) => list.map((e) => e.incident).sort();
    expect(ids(view.waiting)).toEqual([waiting.incident]);
    expect(ids(view.capped)).toEqual([capped.incident]);
    expect(view.waiting[0]?.wave).toMatchObject({ assignments: 1 });
    expect(ids(view.failed)).toEqual([failing.incident]);
    expect(view.failed[0]?.attempts).toEqual({ made: 2, left: 1 });
    expect(ids(view.held)).toEqual([heldIncident]);
    expect(view.held[0]?.reason).toContain('carries the label "no-auto-remediation"');
    // Each incident by its number and title beside its id, as a person finds it in Sentinel.
    const heldNumber = t.scenario.incidents.find((i) => i.name === heldIncident)?.number;
    expect(view.held[0]).toMatchObject({ number: heldNumber, title: "User removed from group or app role by hand" });
    expect(view.cap).toMatchObject({ used: 1, limit: 1 });
    expect(Date.parse(view.cap.freesAt ?? "")).toBeGreaterThan(Date.now() + 59 * 60_000);
    expect(view.lastSweep).toMatchObject({ failed: 1 });

    out.length = 0;
    expect(await main(["status"], settings)).toBe(0);
    const text = out.join("");
    expect(text).toContain("Hourly cap: 1 of 1 users restored in the last 60 minutes; the oldest leaves the window at");
    expect(text).toMatch(/Waiting for Entra ID to deliver \(1\):/);
    expect(text).toMatch(/Waiting for the hourly cap \(1\):/);
    expect(text).toMatch(
      /Failed \(the sweeper retries until no attempt is left\) \(1\):\n {2}.*\(\S+\) {2}failed since \S+; attempt 2, 1 left/,
    );
    expect(text).toContain(`#${heldNumber} "User removed from group or app role by hand" (${heldIncident})  held since`);
    expect(text).toMatch(/Held or left open for an analyst \(1\):/);
    expect(text).toContain("Last sweep: ");
  });
});
