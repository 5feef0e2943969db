/**
 * Entra ID mode end to end: the handler checks the caller's token itself, against the signing
 * keys the fake tenant publishes at its OpenID configuration's jwks_uri (real HTTPS). A forged
 * principal header, a token signed by another key, for another audience or issuer, expired, of
 * another identity or without the invoke role is refused with nothing read; a valid one gets in.
 */
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCallerCheck, type CallerCheck } from "../../src/auth";
import { loadConfig } from "../../src/config";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, depsFor, settingsFor, TenantBuilder } from "../helpers";

const PLAYBOOK = "0f7c2d4e-5b6a-4c3d-8e9f-a1b2c3d4e5f6";
const WEBHOOK_APP = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

let fake: FakeTenant;
let checkCaller: CallerCheck;
let removal: ReturnType<TenantBuilder["removal"]>;

beforeAll(async () => {
  const t = new TenantBuilder();
  removal = t.removal("adele");
  fake = await FakeTenant.start({ scenario: t.scenario });
  // The identity exactly as the app builds it from its settings.
  const config = loadConfig(settingsFor(fake, { WEBHOOK_ALLOWED_CALLER: PLAYBOOK, WEBHOOK_APP_ID: WEBHOOK_APP }));
  if (!config.webhook) throw new Error("no webhook identity");
  checkCaller = createCallerCheck(config.webhook);
});
afterAll(async () => {
  await fake.close();
});

const dataCalls = () => fake.requests.filter((r) => r.service !== "login");

describe("the webhook checks the caller's token itself", () => {
  const refusals: [string, () => Promise<Record<string, string>>, number][] = [
    [
      "the principal header alone (no token)",
      async () => ({ "x-ms-client-principal-id": PLAYBOOK, "x-ms-client-principal-idp": "aad" }),
      401,
    ],
    [
      "a token signed by another key",
      async () => ({
        authorization: `Bearer ${await fake.webhookToken({ aud: WEBHOOK_APP, oid: PLAYBOOK }, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey)}`,
      }),
      401,
    ],
    [
      "a token for another audience",
      async () => ({ authorization: `Bearer ${await fake.webhookToken({ aud: "https://management.azure.com", oid: PLAYBOOK })}` }),
      401,
    ],
    [
      "a token of another issuer",
      async () => ({
        authorization: `Bearer ${await fake.webhookToken({ aud: WEBHOOK_APP, oid: PLAYBOOK, iss: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0" })}`,
      }),
      401,
    ],
    [
      "an expired token",
      async () => ({ authorization: `Bearer ${await fake.webhookToken({ aud: WEBHOOK_APP, oid: PLAYBOOK, expiresInSeconds: -600 })}` }),
      401,
    ],
    [
      "a token of another identity",
      async () => ({
        authorization: `Bearer ${await fake.webhookToken({ aud: WEBHOOK_APP, oid: "6b1e3f3c-0d3e-4d67-9f0e-2f4e3c9a1d55" })}`,
      }),
      403,
    ],
    [
      "a token without the invoke role",
      async () => ({ authorization: `Bearer ${await fake.webhookToken({ aud: WEBHOOK_APP, oid: PLAYBOOK, roles: [] })}` }),
      403,
    ],
  ];

  for (const [name, headers, status] of refusals) {
    it(`refuses ${name} with ${status}, reading nothing`, async () => {
      const before = dataCalls().length;
      const res = await callWebhook(depsFor(fake), fake.triggerBody(removal.incident), { checkCaller, headers: await headers() });
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(status === 401 ? "Unauthenticated" : "CallerNotAllowed");
      expect(dataCalls().length).toBe(before);
      expect(fake.reprocessed.size).toBe(0);
    });
  }

  it("lets the playbook's valid token in: the incident is remediated", async () => {
    const token = await fake.webhookToken({ aud: WEBHOOK_APP, oid: PLAYBOOK });
    const res = await callWebhook(depsFor(fake), fake.triggerBody(removal.incident), {
      checkCaller,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("remediated");
    // The keys came from the tenant's published key set.
    expect(fake.requests.some((r) => r.service === "login" && r.path.endsWith("/discovery/v2.0/keys"))).toBe(true);
  });

  it("answers 503 with Retry-After, not 401, when the tenant's signing keys cannot be read: the fault is ours, the playbook retries", async () => {
    // A fresh check: the key set is fetched (and cached) per check.
    const config = loadConfig(settingsFor(fake, { WEBHOOK_ALLOWED_CALLER: PLAYBOOK, WEBHOOK_APP_ID: WEBHOOK_APP }));
    if (!config.webhook) throw new Error("no webhook identity");
    const outage = createCallerCheck(config.webhook);
    const token = await fake.webhookToken({ aud: WEBHOOK_APP, oid: PLAYBOOK });
    for (const fault of [{ status: 500 }, { body: "<html>maintenance</html>", contentType: "text/html" }]) {
      fake.addFault({ service: "login", path: "/discovery/v2.0/keys$", times: 0, ...fault });
      const before = dataCalls().length;
      const res = await callWebhook(depsFor(fake), fake.triggerBody(removal.incident), {
        checkCaller: outage,
        headers: { authorization: `Bearer ${token}` },
      });
      fake.clearFaults();
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("30");
      expect(res.body.error.message).toContain("signing keys");
      expect(dataCalls().length).toBe(before);
    }
  });
});
