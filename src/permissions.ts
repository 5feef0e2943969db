import table from "./graphPermissions.json";

/**
 * What each Microsoft Graph call needs, from one table (src/graphPermissions.json) that the
 * deployment reads too: infra/main.bicep grants exactly the permissions computed here.
 */
export interface GraphCall {
  request: string;
  purpose: string;
  /** The application permission the app holds for the call. */
  permission: string;
  /** The least-privileged permission the page names, when the app holds a higher one that another call needs. */
  least?: string;
  /** Catalog-scoped mode: the entitlement-management role the page names for app-only callers instead. */
  catalogRole?: string;
  /** The setting without which the call is never made. */
  onlyWith?: string;
  /** The Microsoft Graph page that names the permission. */
  doc: string;
}

export type GraphCallName = keyof typeof table.calls;
export const GRAPH_CALLS: Record<GraphCallName, GraphCall> = table.calls;

/** Entitlement-management role name → its built-in role definition id. */
export const CATALOG_ROLES: Record<string, string> = table.catalogRoles;

/** The permissions and catalog roles a deployment needs, as infra/main.bicep computes them. */
export function neededAccess(mode: { catalogScoped: boolean; riskCheck: boolean }): { permissions: string[]; catalogRoles: string[] } {
  const calls = Object.values(GRAPH_CALLS).filter((c) => mode.riskCheck || c.onlyWith !== "IDENTITY_PROTECTION_CHECK");
  const byRole = calls.filter((c) => mode.catalogScoped && c.catalogRole !== undefined);
  return {
    permissions: [...new Set(calls.filter((c) => !byRole.includes(c)).map((c) => c.permission))],
    catalogRoles: [...new Set(byRole.map((c) => c.catalogRole as string))],
  };
}

/**
 * What a call needs, as a 401/403 message names it: the application permission, or in
 * catalog-scoped mode the catalog role, with the page that says so.
 */
export function neededFor(name: GraphCallName, catalogScoped = false): string {
  const call = GRAPH_CALLS[name];
  if (catalogScoped && call.catalogRole) {
    return `the entitlement-management role "${call.catalogRole}" on the catalogs in ACCESS_PACKAGE_CATALOG_IDS (${call.doc})`;
  }
  return `the Microsoft Graph application permission ${call.permission} (${call.doc})`;
}
