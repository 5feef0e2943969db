import type { TokenCredential } from "@azure/identity";
import * as z from "zod/mini";
import type { Limits } from "./config";
import { LimitError, UpstreamError } from "./errors";
import { createGraphTransport } from "./graphTransport";
import { neededFor } from "./permissions";

const ENTITLEMENT_MANAGEMENT = "/identityGovernance/entitlementManagement";

/** delivering | partiallyDelivered | delivered | expired | deliveryFailed | unknownFutureValue */
export type AssignmentState = string;

export interface Assignment {
  id: string;
  state: AssignmentState;
  /** More detailed status text from Graph (e.g. "Delivered", "PartiallyDelivered"). */
  status?: string;
  accessPackageId: string;
  accessPackageName?: string;
}

export interface UserAccount {
  accountEnabled: boolean;
  userPrincipalName?: string;
}

export interface UserRisk {
  riskLevel: string;
  riskState: string;
}

export type ReprocessResult = "accepted" | "notFound";

/**
 * Resources an access package grants: group memberships, group ownerships and application roles
 * (by the app's service principal id).
 */
export interface Grants {
  groups: string[];
  owners: string[];
  apps: string[];
}

/** What the core needs from Microsoft Graph. Every call stops when `signal` aborts. */
export interface GraphGateway {
  /** Every access package assignment targeting the user (all pages, any state), within the limits. */
  listAssignments(userId: string, signal: AbortSignal): Promise<Assignment[]>;
  /** What the access package grants: Entra groups and applications (service principal ids), lower case. */
  grantsOf(accessPackageId: string, signal: AbortSignal): Promise<Grants>;
  /** Asks Entra to re-evaluate and re-apply the assignment (202 accepted; 404 → "notFound"). */
  reprocess(assignmentId: string, signal: AbortSignal): Promise<ReprocessResult>;
  /** The account, or undefined when no such user exists. */
  getUser(userId: string, signal: AbortSignal): Promise<UserAccount | undefined>;
  /** Identity Protection's risk for the user, or undefined when the user was never flagged. */
  getRisk(userId: string, signal: AbortSignal): Promise<UserRisk | undefined>;
  /**
   * Of `groupIds`, those the user is a direct member of (what an access package delivers;
   * membership through a nested group does not count), lower case.
   */
  directGroups(userId: string, groupIds: string[], signal: AbortSignal): Promise<string[]>;
  /** Of `groupIds`, those the user is an owner of, lower case. */
  ownedGroups(userId: string, groupIds: string[], signal: AbortSignal): Promise<string[]>;
  /**
   * A harmless read that proves a permission (the doctor): one page of `path`, whose answer must be
   * a documented list. `needed` is named when Graph refuses it. Returns the ids it lists.
   */
  probe(what: string, path: string, needed: string, signal: AbortSignal): Promise<string[]>;
}

export interface GraphGatewayOptions {
  limits: Pick<Limits, "maxPages" | "maxAssignmentsPerUser">;
  /**
   * Catalog-scoped mode (ACCESS_PACKAGE_CATALOG_IDS): the identity holds the entitlement-management
   * role "Access package assignment manager" on these catalogs instead of a tenant-wide permission,
   * and Graph then requires every assignment listing to name one access package. Empty: tenant-wide.
   */
  catalogIds?: string[];
  /** How long an access package → groups answer is reused. Packages rarely change. */
  packageCacheTtlMs?: number;
  /** Each attempt of each request is abandoned after this long, body included. */
  requestTimeoutMs?: number;
  /** The HTTP transport (default: the global fetch). */
  fetch?: typeof fetch;
  /** Graph requests in flight at once for this instance, across all incidents. */
  maxInFlight?: number;
  /** Tries per request (first one included). */
  attempts?: number;
  retryDelayMs?: number;
  now?: () => number;
}

export const GRAPH_REQUEST_TIMEOUT_MS = 20_000;
/**
 * Requests in flight per instance. A burst of incidents shares it, so a throttled tenant sees a
 * bounded queue honouring Retry-After instead of an ever-growing storm of retries.
 */
export const GRAPH_MAX_IN_FLIGHT = 20;

/** Access packages listed per user in catalog-scoped mode (one assignment listing each). */
export const MAX_CATALOG_PACKAGES = 200;

// The documented answers, checked strictly: anything else is a failure, never "nothing to do".
const assignmentPage = z.object({
  value: z.array(
    z.object({
      id: z.string().check(z.minLength(1)),
      state: z.optional(z.nullable(z.string())),
      status: z.optional(z.nullable(z.string())),
      accessPackageId: z.optional(z.nullable(z.string())),
      accessPackage: z.optional(z.nullable(z.object({ id: z.string(), displayName: z.optional(z.nullable(z.string())) }))),
    }),
  ),
  "@odata.nextLink": z.optional(z.string()),
});
const packagePage = z.object({
  value: z.array(z.object({ id: z.string().check(z.minLength(1)), displayName: z.optional(z.nullable(z.string())) })),
  "@odata.nextLink": z.optional(z.string()),
});
const origin = z.object({ originId: z.optional(z.nullable(z.string())), originSystem: z.optional(z.nullable(z.string())) });
const accessPackage = z.object({
  id: z.string(),
  resourceRoleScopes: z.array(
    z.object({
      role: z.optional(z.nullable(origin)),
      scope: z.optional(z.nullable(origin)),
    }),
  ),
});
const user = z.object({ id: z.string(), accountEnabled: z.boolean(), userPrincipalName: z.optional(z.nullable(z.string())) });
const risk = z.object({ id: z.string(), riskLevel: z.string(), riskState: z.string() });
const directoryObjectPage = z.object({
  value: z.array(z.object({ id: z.string().check(z.minLength(1)) })),
  "@odata.nextLink": z.optional(z.string()),
});

export function createGraphGateway(credential: TokenCredential, graphEndpoint: string, options: GraphGatewayOptions): GraphGateway {
  const { call, listAll } = createGraphTransport(credential, graphEndpoint, {
    requestTimeoutMs: options.requestTimeoutMs ?? GRAPH_REQUEST_TIMEOUT_MS,
    attempts: options.attempts ?? 4,
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    maxInFlight: options.maxInFlight ?? GRAPH_MAX_IN_FLIGHT,
    maxPages: options.limits.maxPages,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const ttl = options.packageCacheTtlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const { maxAssignmentsPerUser } = options.limits;
  const packageCache = new Map<string, { at: number; grants: Grants }>();
  const catalogIds = options.catalogIds ?? [];
  const catalogScoped = catalogIds.length > 0;
  let catalogPackages: { at: number; ids: string[] } | undefined;

  /** Catalog-scoped mode: the access packages of the configured catalogs (cached like package groups). */
  async function packagesOfCatalogs(signal: AbortSignal): Promise<string[]> {
    if (catalogPackages && now() - catalogPackages.at < ttl) return catalogPackages.ids;
    const lists = await Promise.all(
      catalogIds.map((catalogId) =>
        listAll(signal, {
          what: `list the access packages of catalog ${catalogId}`,
          needed: neededFor("listCatalogPackages", true),
          first: `${ENTITLEMENT_MANAGEMENT}/accessPackages?$filter=${encodeURIComponent(`catalog/id eq '${catalogId}'`)}&$select=id,displayName`,
          page: packagePage,
          tooManyPages: `catalog ${catalogId} has more pages of access packages than allowed`,
        }),
      ),
    );
    const ids = [...new Set(lists.flat().map((p) => p.id.toLowerCase()))];
    if (ids.length > MAX_CATALOG_PACKAGES) {
      throw new LimitError(
        `the catalogs in ACCESS_PACKAGE_CATALOG_IDS hold ${ids.length} access packages, more than ${MAX_CATALOG_PACKAGES} listed per user`,
      );
    }
    catalogPackages = { at: now(), ids };
    return ids;
  }

  return {
    async listAssignments(userId, signal) {
      const what = `list access package assignments of user ${userId}`;
      const tooMany = () =>
        new LimitError(`user ${userId} has more than ${maxAssignmentsPerUser} access package assignments (MAX_ASSIGNMENTS_PER_USER)`);
      const listing = (filter: string, count: (n: number) => void = () => undefined) =>
        listAll(signal, {
          what,
          needed: neededFor("listAssignments", catalogScoped),
          first: `${ENTITLEMENT_MANAGEMENT}/assignments?$filter=${encodeURIComponent(filter)}&$expand=accessPackage`,
          page: assignmentPage,
          tooManyPages: `user ${userId} has more pages of access package assignments than allowed`,
          onPage: (items) => count(items.length),
        });
      let raw: z.output<typeof assignmentPage>["value"];
      if (!catalogScoped) {
        raw = await listing(`target/objectId eq '${userId}'`, (n) => {
          if (n > maxAssignmentsPerUser) throw tooMany();
        });
      } else {
        // Graph requires a catalog-scoped caller to name the access package in every listing.
        const packages = await packagesOfCatalogs(signal);
        raw = (await Promise.all(packages.map((p) => listing(`accessPackage/id eq '${p}' and target/objectId eq '${userId}'`)))).flat();
        if (raw.length > maxAssignmentsPerUser) throw tooMany();
      }
      return raw.map((a) => {
        const packageId = a.accessPackage?.id ?? a.accessPackageId;
        if (!packageId) throw new UpstreamError("graph", 200, `Graph could not ${what}: assignment ${a.id} names no access package`);
        return {
          id: a.id,
          state: a.state ?? "unknownFutureValue",
          ...(a.status ? { status: a.status } : {}),
          accessPackageId: packageId.toLowerCase(),
          ...(a.accessPackage?.displayName ? { accessPackageName: a.accessPackage.displayName } : {}),
        };
      });
    },

    async grantsOf(accessPackageId, signal) {
      const cached = packageCache.get(accessPackageId);
      if (cached && now() - cached.at < ttl) return cached.grants;
      const { body } = await call(signal, {
        what: `read access package ${accessPackageId}`,
        needed: neededFor("readAccessPackage", catalogScoped),
        method: "GET",
        path: `${ENTITLEMENT_MANAGEMENT}/accessPackages/${encodeURIComponent(accessPackageId)}?$expand=resourceRoleScopes($expand=role,scope)`,
        schema: accessPackage,
      });
      const grants = grantsOfScopes(accessPackageId, body?.resourceRoleScopes ?? []);
      packageCache.set(accessPackageId, { at: now(), grants });
      return grants;
    },

    async reprocess(assignmentId, signal) {
      // Documented answer: 202 Accepted with no body. 404: the assignment is gone.
      const { status } = await call(signal, {
        what: `reprocess assignment ${assignmentId}`,
        needed: neededFor("reprocess", catalogScoped),
        method: "POST",
        path: `${ENTITLEMENT_MANAGEMENT}/assignments/${encodeURIComponent(assignmentId)}/reprocess`,
        accept: (s) => s === 202 || s === 404,
      });
      return status === 202 ? "accepted" : "notFound";
    },

    async getUser(userId, signal) {
      const { status, body } = await call(signal, {
        what: `read user ${userId}`,
        needed: neededFor("readUser"),
        method: "GET",
        path: `/users/${encodeURIComponent(userId)}?$select=id,accountEnabled,userPrincipalName`,
        schema: z.union([user, z.object({ error: z.unknown() })]),
        accept: (s) => s === 200 || s === 404,
      });
      if (status === 404 || !body || !("accountEnabled" in body)) return undefined;
      return { accountEnabled: body.accountEnabled, ...(body.userPrincipalName ? { userPrincipalName: body.userPrincipalName } : {}) };
    },

    async getRisk(userId, signal) {
      // A user Identity Protection never flagged has no riskyUser object: 404 means no risk.
      const { status, body } = await call(signal, {
        what: `read the risk of user ${userId}`,
        needed: neededFor("readRisk"),
        method: "GET",
        path: `/identityProtection/riskyUsers/${encodeURIComponent(userId)}`,
        schema: z.union([risk, z.object({ error: z.unknown() })]),
        accept: (s) => s === 200 || s === 404,
      });
      if (status === 404 || !body || !("riskLevel" in body)) return undefined;
      return { riskLevel: body.riskLevel, riskState: body.riskState };
    },

    async probe(what, path, needed, signal) {
      const { body } = await call(signal, { what, needed, method: "GET", path, schema: directoryObjectPage });
      return (body?.value ?? []).map((x) => x.id);
    },

    // Each group's direct members (an access package delivers a direct membership; members is
    // not transitive) or owners, with no OData cast or $filter: those need ConsistencyLevel:
    // eventual, an index that can still show a membership just removed.
    directGroups: (userId, groupIds, signal) => groupsNaming({ userId, groupIds, relation: "members", signal }),
    ownedGroups: (userId, groupIds, signal) => groupsNaming({ userId, groupIds, relation: "owners", signal }),
  };

  /**
   * Of `groupIds`, those whose listing (members or owners) names the user, read in parallel and
   * page by page within GRAPH_MAX_PAGES, each stopping at the page that names the user. A group
   * that no longer exists (404) names nobody: the access is not back.
   */
  async function groupsNaming({
    userId,
    groupIds,
    relation,
    signal,
  }: {
    userId: string;
    groupIds: string[];
    relation: "members" | "owners";
    signal: AbortSignal;
  }): Promise<string[]> {
    const user = userId.toLowerCase();
    const names = (items: { id: string }[]) => items.some((o) => o.id.toLowerCase() === user);
    const named = await Promise.all(
      groupIds.map(async (groupId) => {
        try {
          const read = await listAll(signal, {
            what: `list the ${relation} of group ${groupId}`,
            needed: neededFor(relation === "members" ? "listGroupMembers" : "listGroupOwners"),
            first: `/groups/${encodeURIComponent(groupId)}/${relation}?$select=id&$top=999`,
            tooManyPages: `group ${groupId} has more pages of ${relation} than allowed`,
            page: directoryObjectPage,
            onPage: (items) => (names(items) ? "done" : undefined),
          });
          return names(read) ? [groupId.toLowerCase()] : [];
        } catch (error) {
          if (error instanceof UpstreamError && error.upstreamStatus === 404) return [];
          throw error;
        }
      }),
    );
    return named.flat();
  }
}

/**
 * What an access package's resource role scopes grant. A group scope's originId is the group's
 * object id and its role's originId `Member_<group id>` or `Owner_<group id>` (Graph's two group
 * roles); an application scope's originId is the app's service principal id. A group role that is
 * neither is not what Graph documents: a failure, so nothing is restored on a guess.
 */
export function grantsOfScopes(
  accessPackageId: string,
  scopes: { role?: z.output<typeof origin> | null; scope?: z.output<typeof origin> | null }[],
): Grants {
  const grants: Grants = { groups: [], owners: [], apps: [] };
  for (const { role, scope } of scopes) {
    const id = scope?.originId?.toLowerCase();
    if (!id) continue;
    if (scope?.originSystem === "AadApplication") grants.apps.push(id);
    if (scope?.originSystem !== "AadGroup") continue;
    const kind = /^(member|owner)_/i.exec(role?.originId ?? "")?.[1]?.toLowerCase();
    if (kind === undefined) {
      throw new UpstreamError(
        "graph",
        200,
        `Graph could not read access package ${accessPackageId}: the role of group ${id} is ${JSON.stringify(role?.originId ?? null)}, not Member_ or Owner_ of the group`,
      );
    }
    (kind === "owner" ? grants.owners : grants.groups).push(id);
  }
  return grants;
}
