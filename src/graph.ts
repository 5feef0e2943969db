import type { TokenCredential } from "@azure/identity";
import { Client, ResponseType } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials";
import { upstreamError, UpstreamError } from "./errors";

const EM = "/identityGovernance/entitlementManagement";

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

export type ReprocessResult = "accepted" | "notFound";

/** What the core needs from Microsoft Graph entitlement management. */
export interface GraphGateway {
  /** Every access package assignment targeting the user (all pages, any state). */
  listAssignments(userId: string): Promise<Assignment[]>;
  /** Object ids (lower case) of the Entra groups the access package grants membership of. */
  groupsGrantedBy(accessPackageId: string): Promise<string[]>;
  /** Asks Entra to re-evaluate and re-apply the assignment (202 accepted; 404 → "notFound"). */
  reprocess(assignmentId: string): Promise<ReprocessResult>;
}

export interface GraphGatewayOptions {
  /** How long an access package → groups answer is reused. Packages rarely change. */
  packageCacheTtlMs?: number;
  now?: () => number;
}

interface Page<T> {
  value?: T[];
  "@odata.nextLink"?: string;
}

interface RawAssignment {
  id?: string;
  state?: string;
  status?: string;
  accessPackageId?: string;
  accessPackage?: { id?: string; displayName?: string } | null;
}

interface RawAccessPackage {
  resourceRoleScopes?: { scope?: { originId?: string; originSystem?: string } | null }[];
}

export function createGraphGateway(
  credential: TokenCredential,
  graphEndpoint: string,
  options: GraphGatewayOptions = {},
): GraphGateway {
  const origin = new URL(graphEndpoint).origin;
  const client = Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [`${origin}/.default`] }),
    baseUrl: origin,
    defaultVersion: "v1.0",
    // The Graph client only sends the token to graph.microsoft.com and to hosts listed here.
    customHosts: new Set([new URL(origin).hostname]),
  });
  const ttl = options.packageCacheTtlMs ?? 5 * 60_000;
  const now = options.now ?? Date.now;
  const packageCache = new Map<string, { at: number; groups: Promise<string[]> }>();

  /** An @odata.nextLink is absolute; the client wants a path under the version segment. */
  const nextPath = (link: string): string => {
    const url = new URL(link);
    if (url.origin !== origin) {
      throw new UpstreamError("graph", undefined, `Graph returned a next page link on another host (${url.origin}); not following it`);
    }
    return url.pathname.replace(/^\/v1\.0/, "") + url.search;
  };

  const get = async <T>(what: string, path: string): Promise<T> => {
    try {
      return (await client.api(path).get()) as T;
    } catch (error) {
      throw upstreamError("graph", what, error);
    }
  };

  return {
    async listAssignments(userId) {
      const what = `list access package assignments of user ${userId}`;
      const first =
        `${EM}/assignments?$filter=${encodeURIComponent(`target/objectId eq '${userId}'`)}` + `&$expand=accessPackage`;
      const out: Assignment[] = [];
      for (let path: string | undefined = first; path !== undefined; ) {
        const page: Page<RawAssignment> = await get(what, path);
        for (const raw of page.value ?? []) {
          const packageId = raw.accessPackage?.id ?? raw.accessPackageId;
          if (!raw.id || !packageId) continue;
          out.push({
            id: raw.id,
            state: raw.state ?? "unknownFutureValue",
            status: raw.status,
            accessPackageId: packageId.toLowerCase(),
            accessPackageName: raw.accessPackage?.displayName,
          });
        }
        const link = page["@odata.nextLink"];
        path = link ? nextPath(link) : undefined;
      }
      return out;
    },

    groupsGrantedBy(accessPackageId) {
      const cached = packageCache.get(accessPackageId);
      if (cached && now() - cached.at < ttl) return cached.groups;
      const groups = get<RawAccessPackage>(
        `read access package ${accessPackageId}`,
        `${EM}/accessPackages/${encodeURIComponent(accessPackageId)}?$expand=resourceRoleScopes($expand=role,scope)`,
      ).then((pkg) =>
        (pkg.resourceRoleScopes ?? [])
          .map((rrs) => rrs.scope)
          .filter((scope) => scope?.originSystem === "AadGroup" && typeof scope.originId === "string")
          .map((scope) => (scope?.originId ?? "").toLowerCase()),
      );
      packageCache.set(accessPackageId, { at: now(), groups });
      groups.catch(() => packageCache.delete(accessPackageId));
      return groups;
    },

    async reprocess(assignmentId) {
      const what = `reprocess assignment ${assignmentId}`;
      let response: Response;
      try {
        // RAW: the answer is 202 with an empty body, which the client cannot parse as JSON.
        response = (await client
          .api(`${EM}/assignments/${encodeURIComponent(assignmentId)}/reprocess`)
          .responseType(ResponseType.RAW)
          .post(undefined)) as Response;
      } catch (error) {
        throw upstreamError("graph", what, error);
      }
      if (response.ok) return "accepted";
      if (response.status === 404) return "notFound";
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw upstreamError("graph", what, {
        statusCode: response.status,
        message: [body.error?.code, body.error?.message].filter(Boolean).join(": ") || response.statusText,
      });
    },
  };
}
