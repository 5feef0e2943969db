/** The webhook's refusals: each answers its own status and calls neither Graph nor Sentinel. */
import { describe, expect, it } from "vitest";
import { HttpRequest, InvocationContext, type HttpResponseInit } from "@azure/functions";
import { loadConfig } from "../../src/config";
import type { Deps } from "../../src/deps";
import { createRemediateHandler } from "../../src/functions/remediateIncident";
import { RequestError } from "../../src/errors";
import { MAX_BODY_BYTES, readIncidentRequest } from "../../src/http";
import { callWebhook, readFixture, trapDeps, WORKSPACE } from "../helpers";

const refuse = async () => {
  throw new RequestError("Unauthenticated", "No bearer token: the webhook requires an Entra ID token for its app registration");
};
const body = () => structuredClone(readFixture("incident-trigger.json")) as Record<string, any>;

describe("webhook input checks", () => {
  const cases: [string, () => Parameters<typeof callWebhook>[1], Parameters<typeof callWebhook>[2], number, string, RegExp][] = [
    ["wrong content type", () => body(), { contentType: "text/plain" }, 415, "UnsupportedMediaType", /application\/json/],
    ["no content type", () => body(), { contentType: "" }, 415, "UnsupportedMediaType", /got none/],
    ["unreadable JSON", () => null, { raw: '{"object": ' }, 400, "InvalidJson", /not valid JSON/],
    ["invalid UTF-8", () => null, { raw: undefined }, 400, "InvalidJson", /not valid UTF-8 JSON/],
    ["a JSON array", () => [1, 2], {}, 400, "InvalidIncident", /body must be a JSON object/],
    ["missing object", () => ({ ...body(), object: undefined }), {}, 400, "InvalidIncident", /object is required/],
    [
      "non-GUID incident name",
      () => {
        const b = body();
        b.object.name = "../../etc";
        return b;
      },
      {},
      400,
      "InvalidIncident",
      /object\.name must be the incident id/,
    ],
    [
      "wrong type of field",
      () => {
        const b = body();
        b.workspaceInfo.SubscriptionId = 42;
        return b;
      },
      {},
      400,
      "InvalidIncident",
      /workspaceInfo\.SubscriptionId/,
    ],
    [
      "another workspace",
      () => {
        const b = body();
        b.workspaceInfo.SubscriptionId = "07dd808c-c0a4-4544-bb3a-132992587dde";
        b.object.id = b.object.id.replace(WORKSPACE.subscriptionId, "07dd808c-c0a4-4544-bb3a-132992587dde");
        return b;
      },
      {},
      403,
      "WorkspaceMismatch",
      /another workspace than the one this app is configured for/,
    ],
    // Entra ID mode: the caller check runs before the body is read (test/unit/auth.test.ts checks the tokens).
    ["Entra ID mode, the check refuses", () => body(), { checkCaller: refuse }, 401, "Unauthenticated", /No bearer token/],
    [
      "Entra ID mode, the check passes, then a bad body",
      () => null,
      { checkCaller: async () => undefined, raw: "{" },
      400,
      "InvalidJson",
      /not valid JSON/,
    ],
  ];

  for (const [name, make, init, status, code, message] of cases) {
    it(`${name} → ${status} ${code}, nothing called`, async () => {
      const calls: string[] = [];
      const res =
        name === "invalid UTF-8"
          ? await callRaw(trapDeps(calls), new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))
          : await callWebhook(trapDeps(calls), make(), init);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toMatch(message);
      expect(calls).toEqual([]);
    });
  }

  it("a body over 1 MB → 413, nothing called", async () => {
    const calls: string[] = [];
    const big = body();
    big.object.properties.description = "x".repeat(MAX_BODY_BYTES);
    const res = await callWebhook(trapDeps(calls), big);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("PayloadTooLarge");
    expect(calls).toEqual([]);
  });

  it("a streamed body without Content-Length is cut at 1 MB while it streams", async () => {
    const calls: string[] = [];
    let pulled = 0;
    const chunk = new Uint8Array(64 * 1024).fill(0x20);
    // An endless body: the handler must stop reading once it passes the limit.
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    // HttpRequest takes only whole bodies in test mode, so the request is a stand-in with a stream.
    const request = { headers: new Headers({ "content-type": "application/json" }), body: stream } as unknown as HttpRequest;
    await expect(readIncidentRequest(request)).rejects.toMatchObject({ status: 413, code: "PayloadTooLarge" });
    expect(pulled).toBeGreaterThan(MAX_BODY_BYTES);
    expect(pulled).toBeLessThanOrEqual(MAX_BODY_BYTES + 3 * chunk.byteLength);
    expect(calls).toEqual([]);
  });

  it("refusals never echo the configured workspace, and log lines carry no control characters", async () => {
    const b = body();
    b.workspaceInfo.SubscriptionId = "07dd808c-c0a4-4544-bb3a-132992587dde";
    b.object.id = b.object.id.replace(WORKSPACE.subscriptionId, "07dd808c-c0a4-4544-bb3a-132992587dde");
    const res = await callWebhook(trapDeps([]), b);
    expect(JSON.stringify(res.body)).not.toContain(WORKSPACE.name);
    expect(JSON.stringify(res.body)).not.toContain(WORKSPACE.subscriptionId);
    const injected = await callWebhook(trapDeps([]), null, { contentType: "text/plain;\u001b[31mred\u0007" });
    expect(injected.status).toBe(415);
    // eslint-disable-next-line no-control-regex
    expect(injected.logs.join("\n")).not.toMatch(/[\r\u001b]/);
  });

  it("a declared Content-Length over 1 MB → 413 before reading", async () => {
    const calls: string[] = [];
    const res = await callRaw(trapDeps(calls), new TextEncoder().encode("{}"), { "content-length": String(MAX_BODY_BYTES + 1) });
    expect(res.status).toBe(413);
    expect(calls).toEqual([]);
  });

  it("invalid app settings → 500 naming the setting", async () => {
    const res = await callWebhook(() => loadConfig({}) as never, body());
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe("InvalidConfiguration");
    expect(res.body.error.message).toContain("SENTINEL_SUBSCRIPTION_ID");
  });

  it("an unexpected error → 500 without its detail, logged", async () => {
    const deps = trapDeps([]);
    deps.store.read = async () => ({ record: undefined, etag: undefined });
    deps.sentinel.listEntities = async () => [];
    deps.sentinel.getIncident = async () => {
      throw new TypeError("boom in a dependency");
    };
    const res = await callWebhook(deps, body());
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe("InternalError");
    expect(JSON.stringify(res.body)).not.toContain("boom");
    expect(res.logs.join("\n")).toContain("boom in a dependency");
  });
});

async function callRaw(deps: Deps, bytes: Uint8Array, headers: Record<string, string> = {}) {
  const handler = createRemediateHandler(() => deps);
  const res: HttpResponseInit = await handler(
    new HttpRequest({
      method: "POST",
      url: "https://app.example/api/remediateIncident",
      headers: { "content-type": "application/json", ...headers },
      body: { bytes },
    }),
    new InvocationContext({ invocationId: "t", functionName: "remediateIncident", logHandler: () => undefined }),
  );
  return { status: res.status ?? 200, body: res.jsonBody as { error: { code: string; message: string } } };
}
