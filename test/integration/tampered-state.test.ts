/**
 * State the app cannot trust holds nothing up and lets nothing through: rows of the state table
 * written by something other than this app (Azurite, the real table client), then a webhook
 * through the real clients against the fake tenant.
 */
import { TableClient } from "@azure/data-tables";
import { afterEach, describe, expect, it } from "vitest";
import { pairKey } from "../../src/store";
import { FakeTenant } from "../fake-tenant/server";
import { buildDeps } from "../../src/clients";
import { loadConfig } from "../../src/config";
import { callWebhook, FAST, settingsFor, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** The fake tenant, app settings with a table of their own, and a client on that table. */
async function setUp(t: TenantBuilder, extra: Record<string, string> = {}) {
  fake = await FakeTenant.start({ scenario: t.scenario });
  const settings = settingsFor(fake, extra);
  const table = TableClient.fromConnectionString(settings.STATE_TABLE_CONNECTION ?? "", settings.STATE_TABLE_NAME ?? "", {
    allowInsecureConnection: true,
  });
  await table.createTable();
  // The app on that same table (depsFor would name a table of its own).
  return { f: fake, settings, table, deps: buildDeps(loadConfig(settings), undefined, FAST) };
}

describe("tampered state", () => {
  it("a lease ending in 2100 does not silence the incident: no run lasts that long, so it is not held", async () => {
    const t = new TenantBuilder();
    const r = t.removal("adele");
    const { f, table, deps } = await setUp(t);
    const record = {
      outcome: "new",
      dryRun: false,
      failures: 0,
      comments: 0,
      updatedAt: Date.now(),
      lease: { owner: "x", until: Date.parse("2100-01-01") },
    };
    await table.createEntity({ partitionKey: "incident", rowKey: r.incident, record: JSON.stringify(record) });

    const res = await callWebhook(deps, f.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
  });

  it("a cap bucket dated in the future counts for nobody", async () => {
    const t = new TenantBuilder();
    const r = t.removal("adele");
    const { f, table, deps } = await setUp(t, { MAX_USERS_RESTORED_PER_HOUR: "1" });
    const future = Math.floor(Date.now() / 60_000) + 120;
    await table.createEntity({ partitionKey: "restores", rowKey: "window", buckets: JSON.stringify({ [String(future)]: 1 }) });

    const res = await callWebhook(deps, f.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "remediated", closed: true });
  });

  it("a restore history the app cannot read holds the pair (a repeat cannot be ruled out) instead of letting it through", async () => {
    const t = new TenantBuilder();
    const r = t.removal("adele");
    const { f, table, deps } = await setUp(t);
    await table.createEntity({
      partitionKey: "pair",
      rowKey: pairKey({ userId: r.user, kind: "group", targetId: r.group }),
      times: "not json",
    });

    const res = await callWebhook(deps, f.triggerBody(r.incident));

    expect(res.body).toMatchObject({ outcome: "held", closed: false });
    expect(res.body.decisions).toContainEqual(
      expect.objectContaining({ guard: "repeat", result: "hold", reason: expect.stringContaining("unreadable") }),
    );
    expect(f.reprocessed.size).toBe(0);
  });
  it("a record the app cannot read (a malformed wave, or not JSON) holds the incident with a comment, counts an attempt each run and shows in status", async () => {
    const t = new TenantBuilder();
    const r = t.removal("adele");
    const { f, table, deps } = await setUp(t);
    const wave = { requestedAt: Date.now(), assignments: "all of them", pairs: [] };
    const record = { outcome: "reprocess-requested", dryRun: false, failures: 0, comments: 0, updatedAt: Date.now(), wave };
    await table.createEntity({ partitionKey: "incident", rowKey: r.incident, record: JSON.stringify(record) });

    const first = await callWebhook(deps, f.triggerBody(r.incident));
    const second = await callWebhook(deps, f.triggerBody(r.incident));

    for (const res of [first, second]) {
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ outcome: "held", closed: false });
      expect(res.body.decisions).toContainEqual(
        expect.objectContaining({ guard: "state-record", result: "hold", reason: expect.stringContaining("wave.assignments") }),
      );
    }
    expect(f.reprocessed.size).toBe(0);
    const comments = [...(f.incidents.get(r.incident)?.comments.values() ?? [])];
    expect(comments).toHaveLength(1);
    expect(comments[0]?.message).toContain("unreadable");
    const stored = await deps.store.read(r.incident, new AbortController().signal);
    expect(stored.record).toMatchObject({ outcome: "held", failures: 2, damaged: { text: expect.stringContaining("all of them") } });
    const listed = await deps.store.listRecords(10, new AbortController().signal);
    expect(listed).toContainEqual(
      expect.objectContaining({ incidentId: r.incident, record: expect.objectContaining({ damaged: expect.anything() }) }),
    );

    await table.updateEntity({ partitionKey: "incident", rowKey: r.incident, record: "{not json" }, "Replace");
    const third = await callWebhook(deps, f.triggerBody(r.incident));
    expect(third.body.decisions).toContainEqual(
      expect.objectContaining({ guard: "state-record", reason: expect.stringContaining("it is not JSON") }),
    );
    expect(f.reprocessed.size).toBe(0);
  });
});
