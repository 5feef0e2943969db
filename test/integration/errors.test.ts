/**
 * Errors a user can cause name the cause and the fix: an untrusted certificate (the fake tenant
 * without NODE_EXTRA_CA_CERTS), an endpoint where nothing answers, a bad setting when the built
 * app starts (one readable message, no minified source).
 */
import { execFile, spawnSync } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeTenant } from "../fake-tenant/server";
import { callWebhook, depsFor, FIXTURES, settingsFor, TenantBuilder } from "../helpers";
import { loadScenario } from "../fake-tenant/scenario";

const ROOT = join(__dirname, "..", "..");
let fake: FakeTenant;
beforeAll(async () => {
  fake = await FakeTenant.start({ scenario: loadScenario(join(FIXTURES, "scenarios", "demo.json")) });
});
afterAll(async () => {
  await fake.close();
});

describe("errors name the cause and the fix", () => {
  it("the fake tenant without NODE_EXTRA_CA_CERTS: the CLI says the certificate is not trusted and how to trust it", async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...settingsFor(fake) };
    delete env.NODE_EXTRA_CA_CERTS;
    // Asynchronously: the fake tenant answers from this process.
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [
          join(ROOT, "node_modules", "tsx", "dist", "cli.mjs"),
          join(ROOT, "src", "cli.ts"),
          "replay",
          join(FIXTURES, "incident-trigger.json"),
        ],
        { env, timeout: 60_000 },
        (_e, _out, stderr) => resolve({ status: child.exitCode, stderr: String(stderr) }),
      );
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("is not trusted");
    expect(r.stderr).toContain("NODE_EXTRA_CA_CERTS=.fake-tenant/cert.pem");
  }, 70_000);

  it("Graph where nothing answers: the answer names GRAPH_ENDPOINT and its URL, at once", async () => {
    const t = new TenantBuilder();
    const r = t.removal("u");
    const other = await FakeTenant.start({ scenario: t.scenario });
    try {
      // A port that was free a moment ago: nothing listens there.
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, "127.0.0.1", () => {
          const p = (s.address() as AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      const started = Date.now();
      const res = await callWebhook(depsFor(other, { GRAPH_ENDPOINT: `https://127.0.0.1:${port}` }), other.triggerBody(r.incident));
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain("ECONNREFUSED");
      expect(res.body.error.message).toContain(`nothing answers at GRAPH_ENDPOINT (https://127.0.0.1:${port})`);
      // A refused connection on loopback is not retried.
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      await other.close();
    }
  });

  it("the built app with a bad setting prints one readable message naming it, no minified source", () => {
    const build = spawnSync("npm", ["run", "build", "--silent"], { cwd: ROOT, encoding: "utf8" });
    expect(build.status, build.stderr).toBe(0);
    const r = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(join(ROOT, "dist", "index.js"))})`], {
      env: { PATH: process.env.PATH ?? "", SENTINEL_SUBSCRIPTION_ID: "not-a-guid" },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("SENTINEL_SUBSCRIPTION_ID must be a subscription id (GUID)");
    expect(r.stderr).toContain("SENTINEL_RULE_IDS is required");
    const longest = Math.max(...r.stderr.split("\n").map((l) => l.length));
    expect(longest).toBeLessThan(1_000);
  }, 60_000);
});
