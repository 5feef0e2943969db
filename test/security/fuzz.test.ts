/**
 * Property-based fuzzing of the webhook body with fast-check: over 10,000 generated bodies,
 * mutations of the real fixture included. Each must be refused with a 4xx whose message names
 * the problem, and must reach neither Graph nor Sentinel.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/http";
import { callWebhook, readFixture, trapDeps } from "../helpers";

const calls: string[] = [];
const deps = trapDeps(calls);

const fixture = readFixture("incident-trigger.json") as Record<string, any>;

/** The fields that locate the incident: breaking any one makes the body unusable. */
const POINTER_FIELDS = [
  ["workspaceInfo"],
  ["workspaceInfo", "SubscriptionId"],
  ["workspaceInfo", "ResourceGroupName"],
  ["workspaceInfo", "WorkspaceName"],
  ["object"],
  ["object", "id"],
  ["object", "name"],
  ["objectSchemaType"],
] as const;

const PROTO_KEYS = ["__proto__", "constructor", "prototype"];

const hostileValue = fc.oneof(
  fc.constant(undefined), // delete the field
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom(...PROTO_KEYS, "a", "Incident"), fc.string(), { maxKeys: 3 }),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ minLength: 1025, maxLength: 5000 }),
  fc.uuid(), // a well-formed GUID that is not the right one
  fc.constantFrom("../../etc/passwd", "'; DROP TABLE incidents;--", "<script>alert(1)</script>", "\u0000", "Closed", "${jndi:ldap://x}"),
);

const deepNesting = fc.integer({ min: 50, max: 400 }).map((depth) => {
  let v: unknown = "leaf";
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { nested: v };
  return v;
});

/** A fixture with one pointer field broken, plus optional noise elsewhere. */
const mutatedFixture = fc
  .record({
    field: fc.constantFrom(...POINTER_FIELDS),
    value: hostileValue,
    noise: fc.array(
      fc.record({
        at: fc.constantFrom([], ["object"], ["object", "properties"], ["workspaceInfo"], ["object", "properties", "relatedEntities"]),
        key: fc.constantFrom(...PROTO_KEYS, "extra", "relatedEntities"),
        value: fc.oneof(fc.jsonValue(), deepNesting, fc.string({ maxLength: 2000 })),
      }),
      { maxLength: 3 },
    ),
  })
  .filter(({ field, value }) => {
    const original = field.reduce<any>((o, k) => o?.[k], fixture);
    return (
      JSON.stringify(value) !== JSON.stringify(original) &&
      !(typeof value === "string" && typeof original === "string" && value.toLowerCase() === original.toLowerCase())
    );
  })
  .map(({ field, value, noise }) => {
    const body = structuredClone(fixture);
    for (const n of noise) {
      const target = n.at.reduce<any>((o, k) => (o && typeof o === "object" ? o[k] : undefined), body);
      if (target && typeof target === "object" && !Array.isArray(target))
        Object.defineProperty(target, n.key, { value: n.value, enumerable: true, configurable: true, writable: true });
    }
    const parent = field.slice(0, -1).reduce<any>((o, k) => o[k], body);
    const key = field[field.length - 1] as string;
    if (value === undefined) delete parent[key];
    else parent[key] = value;
    return { body, field: field.join(".") };
  });

function expectRefusal(res: { status: number; body: any }, names: (message: string) => boolean) {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(typeof res.body?.error?.message).toBe("string");
  expect(names(res.body.error.message as string)).toBe(true);
}

describe("webhook fuzzing", () => {
  it("refuses 8,000 mutations of the real fixture with a 4xx naming the broken field, calling nothing", async () => {
    await fc.assert(
      fc.asyncProperty(mutatedFixture, async ({ body, field }) => {
        calls.length = 0;
        const res = await callWebhook(deps, body);
        const leaf = field.split(".").pop() ?? field;
        expectRefusal(
          res,
          (m) => m.includes(leaf) || (res.status === 413 && m.includes("exceeds")) || m.includes("body must be a JSON object"),
        );
        expect(calls).toEqual([]);
      }),
      { numRuns: 8_000 },
    );
  });

  it("refuses 2,000 arbitrary JSON values, calling nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), deepNesting), async (value) => {
        calls.length = 0;
        const res = await callWebhook(deps, value);
        expectRefusal(res, (m) => /workspaceInfo|object|body|JSON/.test(m));
        expect(calls).toEqual([]);
      }),
      { numRuns: 2_000 },
    );
  });

  it("refuses 1,000 texts that are not JSON (truncated fixtures, random text), calling nothing", async () => {
    const text = JSON.stringify(fixture);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.integer({ min: 1, max: text.length - 1 }).map((n) => text.slice(0, n)),
          fc.string({ minLength: 1, maxLength: 200 }).filter((s) => {
            try {
              JSON.parse(s);
              return false;
            } catch {
              return true;
            }
          }),
        ),
        async (raw) => {
          calls.length = 0;
          const res = await callWebhook(deps, null, { raw });
          expectRefusal(res, (m) => m.includes("JSON"));
          expect(res.body.error.code).toBe("InvalidJson");
          expect(calls).toEqual([]);
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it("refuses bodies over 1 MB with 413", async () => {
    calls.length = 0;
    const body = structuredClone(fixture);
    body.object.properties.description = "x".repeat(MAX_BODY_BYTES);
    const res = await callWebhook(deps, body);
    expect(res.status).toBe(413);
    expect(calls).toEqual([]);
  });

  it("leaves Object.prototype untouched after all of it", () => {
    expect(({} as Record<string, unknown>).a).toBeUndefined();
    expect(({} as Record<string, unknown>).Incident).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  });
});
