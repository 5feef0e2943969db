import { readFileSync } from "node:fs";
import { z } from "zod";

/**
 * A fake tenant's contents: who exists, which access packages grant which groups, who is
 * assigned what, and the Sentinel incidents. Loaded from JSON (test/fixtures/scenarios/).
 */
const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, "must be a GUID");

/** The catalog an access package is in when the scenario does not say ("General" in a real tenant). */
export const GENERAL_CATALOG = "0a7e8a7c-6e2d-4c8f-9b1a-3c5d7e9f0a11";

const faultSchema = z.object({
  /** Which fake service the fault applies to. */
  service: z.enum(["login", "graph", "arm"]).optional(),
  method: z.string().optional(),
  /** Regular expression matched against the request path (no query string). */
  path: z.string().optional(),
  /** How many matching requests it affects (default 1; 0 = every one). */
  times: z.number().int().min(0).default(1),
  /** Answer with this status instead of serving the request. */
  status: z.number().int().min(100).max(599).optional(),
  /** Retry-After header (seconds) for status answers. */
  retryAfter: z.number().min(0).optional(),
  /** Extra delay before answering, in milliseconds. */
  latencyMs: z.number().min(0).optional(),
  /** ARM incident PUT: someone else updates the incident first, so the caller's etag is stale. */
  etagConflict: z.boolean().optional(),
  /** Drop the connection without answering (a connection reset). */
  reset: z.boolean().optional(),
  /** Answer with this raw body (and status, default 200) instead of serving the request. */
  body: z.string().optional(),
  /** Content type of `body` (default application/json). */
  contentType: z.string().optional(),
  /** Send half of the body, then stall this long before the rest. */
  stallMs: z.number().min(0).optional(),
});

export const scenarioSchema = z.object({
  tenantId: guid,
  workspace: z.object({ subscriptionId: guid, resourceGroup: z.string().min(1), name: z.string().min(1) }),
  users: z
    .array(z.object({ id: guid, userPrincipalName: z.string(), displayName: z.string(), accountEnabled: z.boolean().default(true) }))
    .default([]),
  /** Identity Protection's risky users; a user not listed was never flagged (404). */
  riskyUsers: z
    .array(
      z.object({
        id: guid,
        riskLevel: z.enum(["low", "medium", "high", "hidden", "none"]),
        riskState: z.enum(["none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised"]),
      }),
    )
    .default([]),
  /** Direct members: user ids, or group ids (a nested group: its members are transitive members only). */
  groups: z
    .array(z.object({ id: guid, displayName: z.string(), members: z.array(guid).default([]), owners: z.array(guid).default([]) }))
    .default([]),
  accessPackages: z
    .array(
      z.object({
        id: guid,
        displayName: z.string(),
        groups: z.array(guid).default([]),
        /** Groups whose Owner role the package grants (role originId Owner_<group id>). */
        ownedGroups: z.array(guid).default([]),
        /** Service principal ids of applications whose role the package grants (resource origin system AadApplication). */
        apps: z.array(guid).default([]),
        catalogId: guid.default(GENERAL_CATALOG),
      }),
    )
    .default([]),
  /**
   * The app's identity holds only the entitlement-management role "Access package assignment
   * manager" on these catalogs (no tenant-wide permission). Like Graph, assignment listings must
   * then name one access package, and anything outside these catalogs is refused (403).
   */
  catalogScope: z.array(guid).optional(),
  /**
   * The Microsoft Graph application permissions (app roles) the app's identity holds: the roles
   * claim of every Graph token. Default: what the deployment grants (with catalogScope, without
   * EntitlementManagement.ReadWrite.All).
   */
  graphRoles: z.array(z.string()).optional(),
  /** With catalogScope: the entitlement-management roles held on those catalogs (default: the two the deployment documents). */
  catalogRoles: z
    .array(z.enum(["Catalog reader", "Access package assignment manager", "Access package manager", "Catalog owner"]))
    .optional(),
  assignments: z
    .array(
      z.object({
        id: guid,
        userId: guid,
        accessPackageId: guid,
        state: z.enum(["delivering", "partiallyDelivered", "delivered", "expired", "deliveryFailed"]),
      }),
    )
    .default([]),
  incidents: z
    .array(
      z.object({
        name: guid,
        number: z.number().int(),
        title: z.string(),
        severity: z.enum(["High", "Medium", "Low", "Informational"]).default("Medium"),
        status: z.enum(["New", "Active", "Closed"]).default("New"),
        ruleIds: z.array(guid).default([]),
        /** Products whose alerts the incident holds (additionalData.alertProductNames). */
        productNames: z.array(z.string()).default(["Azure Sentinel"]),
        /**
         * Whether additionalData lists alertProductNames (optional in the spec; Defender-portal
         * incidents may lack it). The alerts themselves (one per product name) are always listed.
         */
        listsProducts: z.boolean().default(true),
        /** additionalData.alertsCount when it should not match the alerts listed (default: their number, at least 1). */
        alertsCount: z.number().int().min(0).optional(),
        description: z.string().optional(),
        owner: z
          .object({
            objectId: guid,
            email: z.string(),
            assignedTo: z.string(),
            userPrincipalName: z.string(),
            ownerType: z.enum(["User", "Group", "Unknown"]),
          })
          .partial()
          .optional(),
        labels: z.array(z.object({ labelName: z.string(), labelType: z.enum(["User", "AutoAssigned"]).default("User") })).default([]),
        /** How long ago the incident was created (default: just now). */
        createdMinutesAgo: z.number().min(0).default(0),
        /** How long ago it was last changed (default: when created). */
        modifiedMinutesAgo: z.number().min(0).optional(),
        entities: z.array(z.object({ kind: z.string(), properties: z.record(z.string(), z.unknown()) })).default([]),
      }),
    )
    .default([]),
  /** Analytics rules of the workspace (what the doctor reads). */
  alertRules: z
    .array(
      z.object({
        id: guid,
        kind: z.enum(["NRT", "Scheduled"]).default("NRT"),
        displayName: z.string().default("User removed from group or app role by hand"),
        enabled: z.boolean().default(true),
      }),
    )
    .default([]),
  /** Automation rules: run `playbookId` on incidents of the rules in `ruleIds` (GUIDs). */
  automationRules: z
    .array(z.object({ displayName: z.string(), ruleIds: z.array(guid), playbookId: z.string(), enabled: z.boolean().default(true) }))
    .default([]),
  /** Graph page size for assignment lists (the real service decides its own; 100 is a guess). */
  pageSize: z.number().int().min(1).default(100),
  /** How long after a reprocess Entra ID delivers the membership (negative: never). */
  deliveryDelayMs: z.number().default(0),
  /** Delay added to every Graph and ARM answer, in milliseconds. */
  latencyMs: z.number().min(0).default(0),
  faults: z.array(faultSchema).default([]),
  /** A request budget per service (token bucket): beyond it, 429 with Retry-After. */
  rateLimits: z
    .array(z.object({ service: z.enum(["graph", "arm"]), perSecond: z.number().positive(), burst: z.number().positive().optional() }))
    .default([]),
});

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type FaultInput = z.input<typeof faultSchema>;
export type Fault = z.output<typeof faultSchema>;

export function parseScenario(json: unknown, source = "scenario"): Scenario {
  const parsed = scenarioSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid ${source}: ${problems.join("; ")}`);
  }
  return parsed.data;
}

export function parseFault(json: FaultInput): Fault {
  return faultSchema.parse(json);
}

export function loadScenario(path: string): Scenario {
  return parseScenario(JSON.parse(readFileSync(path, "utf8")), path);
}
