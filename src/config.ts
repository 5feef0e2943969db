import * as z from "zod/mini";
import type { WebhookIdentity } from "./auth";
import { ConfigError } from "./errors";

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const PUBLIC_GRAPH_ENDPOINT = "https://graph.microsoft.com";
export const PUBLIC_ARM_ENDPOINT = "https://management.azure.com";
export const PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com";
/** Entra ID authority hosts of the Azure clouds (public, US Government, China). */
export const KNOWN_AUTHORITY_HOSTS = [
  PUBLIC_AUTHORITY_HOST,
  "https://login.microsoftonline.us",
  "https://login.chinacloudapi.cn",
  "https://login.partner.microsoftonline.cn",
];
/** Every 5 minutes (NCRONTAB with seconds, as the Functions timer trigger reads it). */
export const DEFAULT_SWEEP_SCHEDULE = "0 */5 * * * *";

/** Empty app settings are common (a slot left blank); treat them as unset. */
const optional = <T extends z.ZodMiniType<unknown, string>>(schema: T) =>
  z.pipe(
    z.transform((v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v)),
    z.optional(schema),
  );

const isHttpsUrl = (v: string) => URL.canParse(v) && new URL(v).protocol === "https:";

const httpsOrigin = (fallback: string) =>
  z.pipe(
    optional(z.string().check(z.trim(), z.refine(isHttpsUrl, "must be an https:// URL"))),
    z.transform((v) => new URL(v ?? fallback).origin),
  );

/** The whole-number settings: [default, minimum, maximum] (docs/settings.md lists the same, a test keeps them equal). */
export const NUMBERS = {
  MAX_USERS_PER_INCIDENT: [5, 1, 500],
  MAX_USERS_RESTORED_PER_HOUR: [50, 1, 100_000],
  REPEAT_RESTORE_LIMIT: [2, 1, 50],
  DELIVERY_TIMEOUT_MINUTES: [120, 5, 7 * 24 * 60],
  DELIVERY_CHECK_SECONDS: [30, 0, 80],
  GRAPH_MAX_PAGES: [20, 1, 1000],
  MAX_ASSIGNMENTS_PER_USER: [500, 1, 100_000],
  MAX_REPROCESS_PER_INCIDENT: [50, 1, 10_000],
  SWEEP_MAX_AGE_HOURS: [72, 1, 90 * 24],
  SWEEP_MAX_ATTEMPTS: [5, 1, 100],
} as const satisfies Record<string, readonly [number, number, number]>;

/** A whole number setting between min and max, with a default. */
const count = (fallback: number, min: number, max: number) =>
  z.pipe(
    optional(z.string().check(z.trim(), z.regex(/^\d+$/, `must be a whole number from ${min} to ${max}`))),
    z.pipe(
      z.transform((v: string | undefined) => (v === undefined ? fallback : Number(v))),
      z
        .number()
        .check(z.gte(min, `must be a whole number from ${min} to ${max}`), z.lte(max, `must be a whole number from ${min} to ${max}`)),
    ),
  );

/** The non-empty items of a comma-separated setting, trimmed. */
const commaList = (v: string) =>
  v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** Comma-separated analytics rule ids, each a GUID or a full alertRules ARM id. */
const ruleIdList = (v: string) => commaList(v).map(ruleGuid);

/** Comma-separated GUIDs, lower case. */
const guidList = (v: string) => commaList(v).map((s) => s.toLowerCase());

const required = () => z.string({ error: "is required" }).check(z.trim(), z.minLength(1, "is required"));

/**
 * Every setting the app reads. The names are the same in app settings, local.settings.json
 * Values and the process environment; infra/ writes exactly these. docs/settings.md explains each, with its range.
 *
 * zod/mini (the tree-shakable form of zod) keeps the bundle small: the full zod API adds
 * about 440 KB to the deployment file and 35 ms to every cold start.
 */
/** A comma-separated list of analytics rule ids (GUIDs or ARM ids); `required` names what it is when it must not be empty. */
function ruleIds(required?: string) {
  return z.pipe(
    z.pipe(
      z.transform((v: unknown) => (typeof v === "string" ? v : "")),
      z.string().check(
        z.superRefine((v, ctx) => {
          const ids = ruleIdList(v);
          if (ids.length === 0 && required) ctx.addIssue({ code: "custom", message: `is required: ${required}, comma-separated` });
          for (const id of ids) {
            if (!GUID.test(id)) ctx.addIssue({ code: "custom", message: `"${id.slice(0, 60)}" is not an analytics rule id (GUID)` });
          }
        }),
      ),
    ),
    z.transform(ruleIdList),
  );
}

export const settingsSchema = z
  .object({
    SENTINEL_SUBSCRIPTION_ID: z.string({ error: "is required" }).check(z.trim(), z.regex(GUID, "must be a subscription id (GUID)")),
    SENTINEL_RESOURCE_GROUP: required(),
    SENTINEL_WORKSPACE_NAME: required(),
    // Required: the app acts only on incidents whose every alert comes from these rules (or the owner rules).
    SENTINEL_RULE_IDS: ruleIds("the analytics rule id(s) of the removal detection"),
    // Optional: rules whose incidents are about group ownership (the owner-removal detection).
    SENTINEL_OWNER_RULE_IDS: ruleIds(),
    GRAPH_ENDPOINT: httpsOrigin(PUBLIC_GRAPH_ENDPOINT),
    ARM_ENDPOINT: httpsOrigin(PUBLIC_ARM_ENDPOINT),
    REMEDIATION_MODE: z._default(optional(z.enum(["enforce", "dry-run"], { error: 'must be "enforce" or "dry-run"' })), "enforce"),
    SWEEP_SCHEDULE: z._default(
      optional(z.string().check(z.trim(), z.regex(/^\S+( \S+){5}$/, 'must be a six-field NCRONTAB expression such as "0 */5 * * * *"'))),
      DEFAULT_SWEEP_SCHEDULE,
    ),
    // Entra ID on the webhook: the object id of the one identity allowed to call it (the
    // playbook's). Set: App Service authentication must be on, and the function takes no key.
    // Unset: the function key authenticates the call.
    WEBHOOK_ALLOWED_CALLER: optional(
      z.string().check(z.trim(), z.regex(GUID, "must be the object id (GUID) of the playbook's managed identity")),
    ),
    // With WEBHOOK_ALLOWED_CALLER: the webhook's app registration (the tokens' audience) and its tenant.
    WEBHOOK_APP_ID: optional(z.string().check(z.trim(), z.regex(GUID, "must be the client id (GUID) of the webhook's app registration"))),
    WEBHOOK_TENANT_ID: optional(z.string().check(z.trim(), z.regex(GUID, "must be a tenant id (GUID)"))),
    // Catalog-scoped mode: the catalogs whose access packages the identity may manage (it holds
    // the entitlement-management role "Access package assignment manager" on them). Unset: tenant-wide.
    ACCESS_PACKAGE_CATALOG_IDS: z._default(
      optional(
        z.pipe(
          z.string().check(
            z.superRefine((v, ctx) => {
              for (const id of guidList(v))
                if (!GUID.test(id)) ctx.addIssue({ code: "custom", message: `"${id.slice(0, 60)}" is not a catalog id (GUID)` });
            }),
          ),
          z.transform(guidList),
        ),
      ),
      [],
    ),
    // Guards (docs/safety.md).
    NO_AUTO_REMEDIATION_LABEL: z._default(optional(z.string().check(z.trim(), z.maxLength(256, "is too long"))), "no-auto-remediation"),
    IDENTITY_PROTECTION_CHECK: z._default(optional(z.enum(["on", "off"], { error: 'must be "on" or "off"' })), "on"),
    MAX_USERS_PER_INCIDENT: count(...NUMBERS.MAX_USERS_PER_INCIDENT),
    MAX_USERS_RESTORED_PER_HOUR: count(...NUMBERS.MAX_USERS_RESTORED_PER_HOUR),
    // Tug of war: the same user and group (or application) restored this often within 24 hours holds the next one.
    REPEAT_RESTORE_LIMIT: count(...NUMBERS.REPEAT_RESTORE_LIMIT),
    DELIVERY_TIMEOUT_MINUTES: count(...NUMBERS.DELIVERY_TIMEOUT_MINUTES),
    DELIVERY_CHECK_SECONDS: count(...NUMBERS.DELIVERY_CHECK_SECONDS),
    // Bounds (docs/reliability.md).
    GRAPH_MAX_PAGES: count(...NUMBERS.GRAPH_MAX_PAGES),
    MAX_ASSIGNMENTS_PER_USER: count(...NUMBERS.MAX_ASSIGNMENTS_PER_USER),
    MAX_REPROCESS_PER_INCIDENT: count(...NUMBERS.MAX_REPROCESS_PER_INCIDENT),
    SWEEP_MAX_AGE_HOURS: count(...NUMBERS.SWEEP_MAX_AGE_HOURS),
    SWEEP_MAX_ATTEMPTS: count(...NUMBERS.SWEEP_MAX_ATTEMPTS),
    // Shared state (hourly cap, per-incident progress): a table in the app's storage account.
    STATE_TABLE_ENDPOINT: optional(
      z.string().check(z.trim(), z.refine(isHttpsUrl, "must be an https:// URL (the storage account's table endpoint)")),
    ),
    STATE_TABLE_CONNECTION: optional(z.string().check(z.trim())),
    STATE_TABLE_NAME: z._default(
      optional(
        z
          .string()
          .check(z.trim(), z.regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, "must be a table name (3–63 letters or digits, starting with a letter)")),
      ),
      "remediationstate",
    ),
    AZURE_CLIENT_ID: optional(z.string().check(z.trim(), z.regex(GUID, "must be a client id (GUID)"))),
    AZURE_TENANT_ID: optional(z.string().check(z.trim())),
    AZURE_CLIENT_SECRET: optional(z.string()),
    AZURE_AUTHORITY_HOST: optional(z.string().check(z.trim(), z.refine(isHttpsUrl, "must be an https:// URL"))),
    // An authority host outside the Azure clouds receives the client secret and signs the webhook's tokens: only when said so.
    ALLOW_CUSTOM_AUTHORITY_HOST: z._default(optional(z.enum(["true", "false"], { error: 'must be "true" or "false"' })), "false"),
  })
  .check(
    z.superRefine((s, ctx) => {
      if (
        s.AZURE_AUTHORITY_HOST !== undefined &&
        !KNOWN_AUTHORITY_HOSTS.includes(new URL(s.AZURE_AUTHORITY_HOST).origin) &&
        s.ALLOW_CUSTOM_AUTHORITY_HOST !== "true"
      ) {
        ctx.addIssue({
          code: "custom",
          path: ["AZURE_AUTHORITY_HOST"],
          message: `is not an Azure cloud's Entra ID (${KNOWN_AUTHORITY_HOSTS.join(", ")}); it would receive the client secret and sign the webhook's tokens. Set ALLOW_CUSTOM_AUTHORITY_HOST=true if you mean it (a local fake tenant)`,
        });
      }
      if (s.WEBHOOK_ALLOWED_CALLER !== undefined) {
        if (s.WEBHOOK_APP_ID === undefined)
          ctx.addIssue({
            code: "custom",
            path: ["WEBHOOK_APP_ID"],
            message: "is required with WEBHOOK_ALLOWED_CALLER: the client id of the webhook's app registration (the tokens' audience)",
          });
        if (s.WEBHOOK_TENANT_ID === undefined && s.AZURE_TENANT_ID === undefined) {
          ctx.addIssue({
            code: "custom",
            path: ["WEBHOOK_TENANT_ID"],
            message: "is required with WEBHOOK_ALLOWED_CALLER (or AZURE_TENANT_ID): the tenant whose tokens are accepted",
          });
        }
      }
      if (s.AZURE_CLIENT_SECRET !== undefined) {
        for (const key of ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"] as const) {
          if (s[key] === undefined) {
            ctx.addIssue({ code: "custom", path: [key], message: "is required when AZURE_CLIENT_SECRET is set" });
          }
        }
      }
    }),
  );

export type Settings = z.output<typeof settingsSchema>;

/** Azure resource names and ids compare case-insensitively. */
export const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export interface WorkspaceRef {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export interface Limits {
  /** Pages read per Graph listing. */
  maxPages: number;
  /** Assignments read per user. */
  maxAssignmentsPerUser: number;
  /** Reprocess calls per incident. */
  maxReprocessPerIncident: number;
  /** Users (Account entities) one incident may name. */
  maxUsersPerIncident: number;
  /** Users restored in any 60 minutes across the tenant (every instance). */
  maxUsersRestoredPerHour: number;
  /** Restores of one user and group (or application) within 24 hours before the next is held. */
  repeatRestoreLimit: number;
  /** How long the app waits for Entra ID to deliver the membership before it gives up. */
  deliveryTimeoutMs: number;
  /** How long one webhook run polls for the delivery before leaving the incident waiting. */
  deliveryCheckMs: number;
}

export interface Config {
  workspace: WorkspaceRef;
  /** SENTINEL_RULE_IDS and SENTINEL_OWNER_RULE_IDS (lower-case GUIDs; never empty): the rules whose incidents the app acts on. */
  allowedRuleIds: string[];
  /** SENTINEL_OWNER_RULE_IDS: rules whose incidents report lost group ownership, not membership. */
  ownerRuleIds: string[];
  graphEndpoint: string;
  armEndpoint: string;
  dryRun: boolean;
  /** Label that keeps the app off an incident. */
  holdLabel: string;
  /** Identity Protection risk check per user. */
  riskCheck: boolean;
  /** Catalog-scoped mode: the catalogs whose access packages are listed one by one; empty: tenant-wide. */
  catalogIds: string[];
  /** Entra ID mode: who may call the webhook and whose tokens are accepted; undefined: the function key. */
  webhook?: WebhookIdentity;
  limits: Limits;
  sweep: { schedule: string; maxAgeMs: number; maxAttempts: number };
  state: { tableName: string } & ({ endpoint: string } | { connectionString: string });
  identity: {
    clientId?: string;
    tenantId?: string;
    clientSecret?: string;
    authorityHost?: string;
  };
}

/** Validates the settings once; throws ConfigError naming every missing or bad setting. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = settingsSchema.safeParse(env);
  // Checked apart from the schema so that it is named even when other settings are wrong too.
  const set = (name: string) => (env[name] ?? "").trim() !== "";
  const stateProblem =
    set("STATE_TABLE_ENDPOINT") === set("STATE_TABLE_CONNECTION")
      ? [
          "STATE_TABLE_ENDPOINT or STATE_TABLE_CONNECTION is required (exactly one): the table endpoint of the app's storage account " +
            '(https://<account>.table.core.windows.net, used with the managed identity), or "UseDevelopmentStorage=true" for Azurite',
        ]
      : [];
  // A rule is about membership or about ownership, never both: the app would not know which role to restore.
  const both = parsed.success ? parsed.data.SENTINEL_OWNER_RULE_IDS.filter((r) => parsed.data.SENTINEL_RULE_IDS.includes(r)) : [];
  const ruleProblem = both.length
    ? [
        `SENTINEL_OWNER_RULE_IDS names ${both.join(", ")}, also in SENTINEL_RULE_IDS: a rule reports lost membership or lost ownership, not both`,
      ]
    : [];
  if (!parsed.success || stateProblem.length > 0 || ruleProblem.length > 0) {
    const problems = (parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".") || "settings"} ${i.message}`)).concat(
      stateProblem,
      ruleProblem,
    );
    throw new ConfigError(problems);
  }
  const s = parsed.data;
  return {
    workspace: {
      subscriptionId: s.SENTINEL_SUBSCRIPTION_ID.toLowerCase(),
      resourceGroup: s.SENTINEL_RESOURCE_GROUP,
      name: s.SENTINEL_WORKSPACE_NAME,
    },
    allowedRuleIds: [...new Set([...s.SENTINEL_RULE_IDS, ...s.SENTINEL_OWNER_RULE_IDS])],
    ownerRuleIds: s.SENTINEL_OWNER_RULE_IDS,
    graphEndpoint: s.GRAPH_ENDPOINT,
    armEndpoint: s.ARM_ENDPOINT,
    dryRun: s.REMEDIATION_MODE === "dry-run",
    holdLabel: s.NO_AUTO_REMEDIATION_LABEL,
    riskCheck: s.IDENTITY_PROTECTION_CHECK === "on",
    catalogIds: s.ACCESS_PACKAGE_CATALOG_IDS,
    ...(s.WEBHOOK_ALLOWED_CALLER
      ? {
          webhook: {
            caller: s.WEBHOOK_ALLOWED_CALLER.toLowerCase(),
            audience: (s.WEBHOOK_APP_ID ?? "").toLowerCase(),
            tenantId: (s.WEBHOOK_TENANT_ID ?? s.AZURE_TENANT_ID ?? "").toLowerCase(),
            authorityHost: new URL(s.AZURE_AUTHORITY_HOST ?? PUBLIC_AUTHORITY_HOST).origin,
          },
        }
      : {}),
    limits: {
      maxPages: s.GRAPH_MAX_PAGES,
      maxAssignmentsPerUser: s.MAX_ASSIGNMENTS_PER_USER,
      maxReprocessPerIncident: s.MAX_REPROCESS_PER_INCIDENT,
      maxUsersPerIncident: s.MAX_USERS_PER_INCIDENT,
      maxUsersRestoredPerHour: s.MAX_USERS_RESTORED_PER_HOUR,
      repeatRestoreLimit: s.REPEAT_RESTORE_LIMIT,
      deliveryTimeoutMs: s.DELIVERY_TIMEOUT_MINUTES * 60_000,
      deliveryCheckMs: s.DELIVERY_CHECK_SECONDS * 1000,
    },
    sweep: { schedule: s.SWEEP_SCHEDULE, maxAgeMs: s.SWEEP_MAX_AGE_HOURS * 3_600_000, maxAttempts: s.SWEEP_MAX_ATTEMPTS },
    state: {
      tableName: s.STATE_TABLE_NAME,
      ...(s.STATE_TABLE_ENDPOINT !== undefined
        ? { endpoint: s.STATE_TABLE_ENDPOINT }
        : { connectionString: s.STATE_TABLE_CONNECTION ?? "" }),
    },
    identity: {
      clientId: s.AZURE_CLIENT_ID,
      tenantId: s.AZURE_TENANT_ID,
      clientSecret: s.AZURE_CLIENT_SECRET,
      authorityHost: s.AZURE_AUTHORITY_HOST,
    },
  };
}

/** The ARM id of an analytics rule in the workspace (lower case), as incidents list it. */
export function ruleArmId(workspace: WorkspaceRef, ruleId: string): string {
  return (
    `/subscriptions/${workspace.subscriptionId}/resourceGroups/${workspace.resourceGroup}/providers/Microsoft.OperationalInsights` +
    `/workspaces/${workspace.name}/providers/Microsoft.SecurityInsights/alertRules/${ruleId}`
  ).toLowerCase();
}

/**
 * Analytics rules are named by GUID; incidents list them as full ARM ids
 * (…/providers/Microsoft.SecurityInsights/alertRules/<guid>). Either form reduces to the GUID.
 */
export function ruleGuid(idOrArmId: string): string {
  const last = idOrArmId.trim().replace(/\/+$/, "").split("/").pop() ?? "";
  return last.toLowerCase();
}
