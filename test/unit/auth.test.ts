/** The webhook's caller check against a local key set: every way a token can be wrong, and the right one. */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { createLocalJWKSet, SignJWT, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { createCallerCheck, WEBHOOK_ROLE } from "../../src/auth";

const TENANT = "c3620297-2040-43b2-a1bc-c604f7f8c54e";
const AUDIENCE = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const PLAYBOOK = "0f7c2d4e-5b6a-4c3d-8e9f-a1b2c3d4e5f6";
const HOST = "https://login.microsoftonline.com";
const tenantKey = { kid: randomUUID(), ...generateKeyPairSync("rsa", { modulusLength: 2048 }) };
const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 });
const jwks = createLocalJWKSet({
  keys: [{ ...(tenantKey.publicKey.export({ format: "jwk" }) as JWK), kid: tenantKey.kid, alg: "RS256", use: "sig" }],
});
const check = createCallerCheck({ tenantId: TENANT, audience: AUDIENCE, caller: PLAYBOOK, authorityHost: HOST }, jwks);

async function token(
  over: { aud?: string; iss?: string; oid?: string; roles?: string[]; exp?: number; key?: typeof otherKey.privateKey; kid?: string } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ oid: over.oid ?? PLAYBOOK, tid: TENANT, roles: over.roles ?? [WEBHOOK_ROLE] })
    .setProtectedHeader({ alg: "RS256", kid: over.kid ?? tenantKey.kid })
    .setIssuer(over.iss ?? `${HOST}/${TENANT}/v2.0`)
    .setAudience(over.aud ?? AUDIENCE)
    .setIssuedAt(now - 600)
    .setExpirationTime(over.exp ?? now + 3600)
    .sign(over.key ?? tenantKey.privateKey);
}

describe("createCallerCheck", () => {
  it("lets in a v2 token of the playbook's identity with the invoke role", async () => {
    await expect(check(`Bearer ${await token()}`)).resolves.toBeUndefined();
  });

  it.each([
    ["no Authorization header", async (): Promise<string | null> => null, 401, /No bearer token/],
    ["not a bearer token", async (): Promise<string | null> => "Basic dXNlcjpwYXNz", 401, /No bearer token/],
    [
      "a forged signature (another key, the tenant's key id)",
      async () => `Bearer ${await token({ key: otherKey.privateKey })}`,
      401,
      /not signed by the tenant's keys/,
    ],
    [
      "an unknown key id",
      async () => `Bearer ${await token({ key: otherKey.privateKey, kid: randomUUID() })}`,
      401,
      /not signed by the tenant's keys/,
    ],
    ["another audience", async () => `Bearer ${await token({ aud: "00000003-0000-0000-c000-000000000000" })}`, 401, /aud claim/],
    ["api://<appId> as audience", async () => `Bearer ${await token({ aud: `api://${AUDIENCE}` })}`, 401, /aud claim/],
    [
      "another tenant's issuer",
      async () => `Bearer ${await token({ iss: `${HOST}/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0` })}`,
      401,
      /iss claim/,
    ],
    ["a v1 issuer", async () => `Bearer ${await token({ iss: `https://sts.windows.net/${TENANT}/` })}`, 401, /iss claim/],
    ["an expired token", async () => `Bearer ${await token({ exp: Math.floor(Date.now() / 1000) - 300 })}`, 401, /expired/],
    ["garbage", async (): Promise<string | null> => "Bearer not.a.jwt", 401, /malformed/],
    [
      "another identity (oid)",
      async () => `Bearer ${await token({ oid: "6b1e3f3c-0d3e-4d67-9f0e-2f4e3c9a1d55" })}`,
      403,
      /not the identity allowed/,
    ],
    ["no invoke role", async () => `Bearer ${await token({ roles: [] })}`, 403, /app role Webhook\.Invoke/],
  ] as [string, () => Promise<string | null>, number, RegExp][])("refuses %s", async (_name, header, status, message) => {
    const error = await check(await header()).then(
      () => undefined,
      (e: unknown) => e as { status: number; message: string },
    );
    expect(error?.status).toBe(status);
    expect(error?.message).toMatch(message);
  });
});
