/**
 * Sign-in failures of the app's own credential say so, in one line with the fix, whichever call
 * needed the token: a wrong client secret through the real credential against the fake tenant,
 * and no credential at all (the chain DefaultAzureCredential tries, built here without calling it,
 * so that no managed-identity endpoint is probed from the build machine).
 */
import { CredentialUnavailableError, AggregateAuthenticationError } from "@azure/identity";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli";
import { upstreamError } from "../../src/errors";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, depsFor, settingsFor, TenantBuilder } from "../helpers";

let fake: FakeTenant | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
  vi.restoreAllMocks();
});

describe("sign-in failures", () => {
  it("a wrong client secret: LoginFailure naming Entra ID's answer and the settings to check; nothing changed", async () => {
    const t = new TenantBuilder();
    const removal = t.removal("adele");
    fake = await FakeTenant.start({ scenario: t.scenario });

    const res = await callWebhook(depsFor(fake, { AZURE_CLIENT_SECRET: "not-the-secret" }), fake.triggerBody(removal.incident));

    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("LoginFailure");
    expect(res.body.error.message).toMatch(
      /^Entra ID refused the app's sign-in \(invalid_client, AADSTS7000215: Invalid client secret provided\.\)/,
    );
    expect(res.body.error.message).toContain("AZURE_CLIENT_SECRET");
    expect(res.body.error.message).not.toContain("no answer");
    expect(fake.incidents.get(removal.incident)?.status).toBe("New");
    expect(fake.reprocessed.size).toBe(0);

    // The CLI says the same in one line.
    const err: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => (err.push(String(chunk)), true));
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const file = join(tmpdir(), `incident-${removal.incident}.json`);
    writeFileSync(file, JSON.stringify(fake.triggerBody(removal.incident)));
    expect(await main(["replay", file], settingsFor(fake, { AZURE_CLIENT_SECRET: "not-the-secret" }))).toBe(1);
    const line = err
      .join("")
      .split("\n")
      .find((l) => l.startsWith("LoginFailure: "));
    expect(line).toBeDefined();
    expect((line ?? "").length).toBeLessThan(300);
  });

  it("no credential at all: one line naming az login and the AZURE_* settings, not six failures", () => {
    const chain = new AggregateAuthenticationError(
      [
        new CredentialUnavailableError("EnvironmentCredential is unavailable."),
        new CredentialUnavailableError("ManagedIdentityCredential: Network unreachable."),
        new CredentialUnavailableError("AzureCliCredential: Please run 'az login'."),
      ],
      "ChainedTokenCredential authentication failed.",
    );
    const error = upstreamError("sentinel", "read incident 42", chain, "Microsoft Sentinel Responder");
    expect(error.code).toBe("LoginFailure");
    expect(error.message).toMatch(/^No Azure credential could sign in: run az login/);
    expect(error.message).toContain("AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET");
    expect(error.message).not.toContain("EnvironmentCredential");
    expect(error.message).not.toContain("\n");
  });
});
