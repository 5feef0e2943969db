/**
 * The staged deployment package under the real Azure Functions host (../shared/fnhost, built from
 * Microsoft's sources) with the real Node.js worker: what a Sentinel playbook and an operator see
 * through HTTP. The fake tenant answers Graph, Sentinel and Entra ID; Azurite is the host's
 * AzureWebJobsStorage and the app's state table.
 *
 * Where the host is missing the tests are skipped with the reason; in CI (CI=true) that fails.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAzurite, type Azurite } from "../fake-tenant/azurite";
import { hostMissing, MASTER_KEY, stagePackage, startHost, type RunningHost } from "../fake-tenant/host";
import { FakeTenant } from "../fake-tenant/server";
import { RULE_ID, TenantBuilder, WORKSPACE } from "../helpers";

const missing = hostMissing();
const HOST_TIMEOUT = 120_000;

if (missing !== undefined) {
  describe("without the Functions host", () => {
    if (process.env.CI === "true") {
      it("fails in CI (CI=true), where the real Functions host must run these tests", () => {
        expect(missing, "the host tests need ../shared/fnhost (or FNHOST_DIR) and dotnet").toBeUndefined();
      });
    } else {
      it.skip(`skipped: ${missing}`, () => undefined);
    }
  });
}

describe.skipIf(missing !== undefined)("under the real Functions host", () => {
  const t = new TenantBuilder();
  const removed = t.removal("adele");
  // A removal whose webhook never arrived (older than the sweeper's grace): the timer's work.
  const lost = t.removal("grady", 30);
  const other = t.removal("megan");
  const tooBig = t.removal("lee");
  let fake: FakeTenant;
  let azurite: Azurite;
  let appDir: string;
  const hosts: RunningHost[] = [];
  let keyed: RunningHost;

  const settings = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...fake.settings(),
    AzureWebJobsStorage: azurite.storageConnectionString,
    SENTINEL_RULE_IDS: RULE_ID,
    STATE_TABLE_CONNECTION: azurite.connectionString,
    REMEDIATION_MODE: "enforce",
    SWEEP_SCHEDULE: "0 */7 * * * *",
    ...extra,
  });
  const start = async (extra: Record<string, string> = {}, allowError = false): Promise<RunningHost> => {
    const host = await startHost({ appDir, settings: settings(extra), env: { NODE_EXTRA_CA_CERTS: fake.tls.certPath }, allowError });
    hosts.push(host);
    return host;
  };
  const post = (host: RunningHost, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${host.url}/api/remediateIncident`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const admin = (host: RunningHost, path: string, init: RequestInit = {}) =>
    fetch(`${host.url}/admin/${path}`, { ...init, headers: { "x-functions-key": MASTER_KEY, "content-type": "application/json" } });

  beforeAll(async () => {
    fake = await FakeTenant.start({ scenario: t.scenario });
    azurite = await startAzurite({ all: true });
    appDir = stagePackage();
    keyed = await start();
  }, HOST_TIMEOUT);

  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await azurite?.stop();
    await fake?.close();
  }, HOST_TIMEOUT);

  it("asks for the function key: 401 without it, nothing read", async () => {
    const before = fake.requests.length;
    const res = await post(keyed, fake.triggerBody(removed.incident));
    expect(res.status).toBe(401);
    expect(fake.requests.length).toBe(before);
  });

  it("remediates a real trigger body sent with a function key, as the playbook sends it", async () => {
    // The function's own default key, read through the admin API as set-function-key.sh reads it.
    const keys = (await (await admin(keyed, "functions/remediateIncident/keys")).json()) as { keys: { name: string; value: string }[] };
    const key = keys.keys.find((k) => k.name === "default")?.value ?? "";
    expect(key).not.toBe("");

    const res = await post(keyed, fake.triggerBody(removed.incident), { "x-functions-key": key });

    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "remediated", closed: true });
    expect(fake.incidents.get(removed.incident)?.status).toBe("Closed");
    expect(fake.incidents.get(removed.incident)?.classification).toBe("BenignPositive");
    expect(fake.members.get(removed.group)?.has(removed.user)).toBe(true);
  });

  it.each([
    ["415: not JSON", { "content-type": "text/plain" }, () => JSON.stringify(fake.triggerBody(other.incident)), 415, "Content-Type"],
    ["413: over 1 MB", {}, () => JSON.stringify({ ...fake.triggerBody(other.incident), pad: "x".repeat(1_100_000) }), 413, "1048576 bytes"],
    ["400: the field named", {}, () => JSON.stringify({ ...fake.triggerBody(other.incident), object: { id: 42 } }), 400, "object"],
  ])("refuses %s, changing nothing", async (_name, headers, body, status, named) => {
    const res = await post(keyed, body(), { "x-functions-key": MASTER_KEY, ...headers });
    expect(res.status).toBe(status);
    expect(JSON.stringify(await res.json())).toContain(named);
    expect(fake.incidents.get(other.incident)?.status).toBe("New");
    expect(fake.incidents.get(other.incident)?.comments.size).toBe(0);
  });

  it("refuses an incident of another workspace with 403, changing nothing", async () => {
    const body = fake.triggerBody(tooBig.incident) as { workspaceInfo: Record<string, string>; object: { id: string } };
    body.workspaceInfo.WorkspaceName = "law-other";
    body.object.id = body.object.id.replace(WORKSPACE.name, "law-other");
    const res = await post(keyed, body, { "x-functions-key": MASTER_KEY });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("WorkspaceMismatch");
    expect(fake.incidents.get(tooBig.incident)?.status).toBe("New");
  });

  it("runs the sweeper fired through the admin API on its SWEEP_SCHEDULE: the lost webhook's incident is remediated", async () => {
    const meta = (await (await admin(keyed, "functions/sweepIncidents")).json()) as { config: { bindings: { schedule?: string }[] } };
    expect(meta.config.bindings[0]?.schedule).toBe("0 */7 * * * *");

    const fired = await admin(keyed, "functions/sweepIncidents", { method: "POST", body: JSON.stringify({ input: "" }) });
    expect(fired.status).toBe(202);

    const until = Date.now() + 30_000;
    while (fake.incidents.get(lost.incident)?.status !== "Closed" && Date.now() < until) await new Promise((ok) => setTimeout(ok, 200));
    expect(fake.incidents.get(lost.incident)?.status).toBe("Closed");
    expect(fake.members.get(lost.group)?.has(lost.user)).toBe(true);
    // The young incident is left to its webhook.
    expect(fake.incidents.get(other.incident)?.status).toBe("New");
  });

  it(
    "in Entra ID mode lets in the playbook's token and nothing else, with no function key",
    async () => {
      const app = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
      const playbook = "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
      const entra = await start({ WEBHOOK_ALLOWED_CALLER: playbook, WEBHOOK_APP_ID: app, WEBHOOK_TENANT_ID: t.scenario.tenantId });

      const anonymous = await post(entra, fake.triggerBody(other.incident));
      expect(anonymous.status).toBe(401);
      const stranger = await post(entra, fake.triggerBody(other.incident), {
        authorization: `Bearer ${await fake.webhookToken({ aud: app, oid: "6b1e3f3c-0d3e-4d67-9f0e-2f4e3c9a1d55" })}`,
      });
      expect(stranger.status).toBe(403);
      expect(fake.incidents.get(other.incident)?.status).toBe("New");

      const ok = await post(entra, fake.triggerBody(other.incident), {
        authorization: `Bearer ${await fake.webhookToken({ aud: app, oid: playbook })}`,
      });
      expect(ok.status).toBe(200);
      expect(fake.incidents.get(other.incident)?.status).toBe("Closed");
    },
    HOST_TIMEOUT,
  );

  it(
    "names a bad setting once, readably, in the host log, and registers no function",
    async () => {
      const bad = await start({ REMEDIATION_MODE: "bogus", SENTINEL_RULE_IDS: "not-a-rule" }, true);
      const until = Date.now() + 30_000;
      while (!bad.log().includes("Invalid app settings") && Date.now() < until) await new Promise((ok) => setTimeout(ok, 200));
      const log = bad.log();
      expect(log.split("Invalid app settings").length - 1).toBe(1);
      expect(log).toContain('REMEDIATION_MODE must be "enforce" or "dry-run"');
      expect(log).toContain('SENTINEL_RULE_IDS "not-a-rule" is not an analytics rule id');
      expect(log).not.toContain(fake.clientSecret);
      const res = await post(bad, fake.triggerBody(tooBig.incident), { "x-functions-key": MASTER_KEY });
      expect(res.status).toBe(404);
    },
    HOST_TIMEOUT,
  );
});
