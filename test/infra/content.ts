/** Reads the rules-as-code YAML under infra/content/ and analyzes their KQL with Microsoft's Kusto language service. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const INFRA = join(__dirname, "..", "..", "infra");
export const CONTENT = join(INFRA, "content");

export interface ContentItem {
  file: string;
  id: string;
  name: string;
  description: string;
  severity?: string;
  kind?: string;
  queryFrequency?: string;
  queryPeriod?: string;
  triggerOperator?: string;
  triggerThreshold?: number;
  tactics: string[];
  relevantTechniques: string[];
  requiredDataConnectors: { connectorId: string; dataTypes: string[] }[];
  query: string;
  entityMappings: { entityType: string; fieldMappings: { identifier: string; columnName: string }[] }[];
  customDetails?: Record<string, string>;
  alertDetailsOverride?: { alertDisplayNameFormat?: string; alertDescriptionFormat?: string };
  /** Absent for some published hunting queries. */
  version?: string;
}

export interface SystemActor {
  name: string;
  appId?: string;
  displayNames: string[];
  source: string;
  governance?: boolean;
}

/** The one list of system actors (infra/content/system-actors.yaml). */
export function systemActors(): SystemActor[] {
  return (parse(readFileSync(join(CONTENT, "system-actors.yaml"), "utf8")) as { actors: SystemActor[] }).actors;
}

/** A query as infra/modules/detection.bicep deploys it: the app's identity and the system actors filled in. */
export function deployedQuery(query: string, remediationPrincipalId: string): string {
  const actors = systemActors();
  const governance = actors.filter((a) => a.governance);
  const ids = (list: SystemActor[]) => JSON.stringify(list.flatMap((a) => (a.appId ? [a.appId] : [])));
  const names = (list: SystemActor[]) => JSON.stringify(list.flatMap((a) => a.displayNames));
  return query
    .replaceAll("__REMEDIATION_PRINCIPAL_ID__", remediationPrincipalId)
    .replaceAll('["__SYSTEM_ACTOR_APP_IDS__"]', ids(actors))
    .replaceAll('["__SYSTEM_ACTOR_NAMES__"]', names(actors))
    .replaceAll('["__GOVERNANCE_APP_IDS__"]', ids(governance))
    .replaceAll('["__GOVERNANCE_NAMES__"]', names(governance));
}

export function loadContent(folder: "rules" | "hunting"): ContentItem[] {
  const dir = join(CONTENT, folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => ({ ...(parse(readFileSync(join(dir, f), "utf8")) as Omit<ContentItem, "file">), file: `${folder}/${f}` }));
}

/**
 * Column schemas from the Azure Monitor table reference (learn.microsoft.com/azure/azure-monitor/reference/tables/).
 */
export const TABLES: Record<string, string> = {
  AuditLogs:
    "(AADOperationType:string, AADTenantId:string, ActivityDateTime:datetime, ActivityDisplayName:string, AdditionalDetails:dynamic, " +
    "Category:string, CorrelationId:string, DurationMs:long, Id:string, Identity:string, InitiatedBy:dynamic, Level:string, " +
    "Location:string, LoggedByService:string, OperationName:string, OperationVersion:string, Resource:string, ResourceGroup:string, " +
    "ResourceId:string, Result:string, ResultDescription:string, ResultReason:string, ResultSignature:string, ResultType:string, " +
    "SourceSystem:string, TargetResources:dynamic, TenantId:string, TimeGenerated:datetime, Type:string)",
  SigninLogs:
    "(AlternateSignInName:string, AppDisplayName:string, AppId:string, AuthenticationContextClassReferences:string, " +
    "AuthenticationDetails:string, AuthenticationMethodsUsed:string, AuthenticationProcessingDetails:string, " +
    "AuthenticationRequirement:string, AuthenticationRequirementPolicies:string, AutonomousSystemNumber:string, Category:string, " +
    "ClientAppUsed:string, ConditionalAccessPolicies:dynamic, ConditionalAccessStatus:string, CorrelationId:string, " +
    "CreatedDateTime:datetime, DeviceDetail:dynamic, DurationMs:long, HomeTenantId:string, Id:string, Identity:string, " +
    "IPAddress:string, IsInteractive:bool, IsRisky:bool, Level:string, Location:string, LocationDetails:dynamic, " +
    "MfaDetail:dynamic, NetworkLocationDetails:string, OperationName:string, OperationVersion:string, OriginalRequestId:string, " +
    "ResourceDisplayName:string, ResourceGroup:string, ResourceId:string, ResourceIdentity:string, ResourceTenantId:string, " +
    "Result:string, ResultDescription:string, ResultSignature:string, ResultType:string, RiskDetail:string, " +
    "RiskEventTypes:string, RiskEventTypes_V2:string, RiskLevelAggregated:string, RiskLevelDuringSignIn:string, " +
    "RiskState:string, ServicePrincipalId:string, ServicePrincipalName:string, SessionLifetimePolicies:string, " +
    "SignInIdentifier:string, SignInIdentifierType:string, SourceSystem:string, Status:dynamic, TenantId:string, " +
    "TimeGenerated:datetime, TokenIssuerName:string, TokenIssuerType:string, Type:string, UniqueTokenIdentifier:string, " +
    "UserAgent:string, UserDisplayName:string, UserId:string, UserPrincipalName:string, UserType:string)",
  // Application Insights traces in its workspace: the app's decision records (src/core/decisionRecord.ts).
  AppTraces:
    "(AppRoleInstance:string, AppRoleName:string, AppVersion:string, ClientBrowser:string, ClientCity:string, " +
    "ClientCountryOrRegion:string, ClientIP:string, ClientModel:string, ClientOS:string, ClientStateOrProvince:string, " +
    "ClientType:string, IKey:string, ItemCount:int, Measurements:dynamic, Message:string, OperationId:string, " +
    "OperationName:string, ParentId:string, Properties:dynamic, ReferencedItemId:string, ReferencedType:string, " +
    "ResourceGUID:string, SDKVersion:string, SessionId:string, SeverityLevel:int, SourceSystem:string, SyntheticSource:string, " +
    "TenantId:string, TimeGenerated:datetime, Type:string, UserAccountId:string, UserAuthenticatedId:string, UserId:string, " +
    "_ResourceId:string)",
  SecurityIncident:
    "(AdditionalData:dynamic, AlertIds:dynamic, BookmarkIds:dynamic, Classification:string, ClassificationComment:string, " +
    "ClassificationReason:string, ClosedTime:datetime, Comments:dynamic, CreatedTime:datetime, Description:string, " +
    "FirstActivityTime:datetime, FirstModifiedTime:datetime, IncidentName:string, IncidentNumber:int, IncidentUrl:string, " +
    "Labels:dynamic, LastActivityTime:datetime, LastModifiedTime:datetime, ModifiedBy:string, Owner:dynamic, " +
    "ProviderIncidentId:string, ProviderName:string, RelatedAnalyticRuleIds:dynamic, Severity:string, SourceSystem:string, " +
    "Status:string, Tasks:dynamic, TenantId:string, TimeGenerated:datetime, Title:string, Type:string)",
};

/* eslint-disable @typescript-eslint/no-require-imports */
require("@kusto/language-service-next/bridge.js");
require("@kusto/language-service-next");
// The language service is a Bridge.NET build that installs itself as a global.
const K = (globalThis as any).Kusto.Language;

const globals = (() => {
  const S = K.Symbols;
  const tables = Object.entries(TABLES).map(([name, schema]) => new S.TableSymbol.$ctor7(name, schema, null));
  return K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.$ctor3("workspace", null, tables, false));
})();

export interface Analysis {
  errors: string[];
  columns: Map<string, string>;
}

/**
 * Sentinel's _GetWatchlist(alias) as the analyzer sees it: the exemption watchlist's columns
 * (infra/modules/detection.bicep deploys it). Declared ahead of a query that calls it.
 */
export const WATCHLIST_COLUMNS = "SearchKey: string, ActorId: string, ActorName: string, Reason: string";
export const WATCHLIST_FUNCTION = `let _GetWatchlist = (watchlistAlias: string) { datatable(${WATCHLIST_COLUMNS})[] };\n`;

export function analyzeKql(query: string): Analysis {
  const prelude = query.includes("_GetWatchlist(") && !query.includes("let _GetWatchlist") ? WATCHLIST_FUNCTION : "";
  const code = K.KustoCode.ParseAndAnalyze(prelude + query, globals);
  const diagnostics = code.GetDiagnostics();
  const errors: string[] = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    const at = d.Start - prelude.length;
    if (String(d.Severity) === "Error") errors.push(`${d.Message} at ${at}: ${query.slice(at, at + 40)}`);
  }
  const columns = new Map<string, string>();
  const result = code.ResultType;
  if (result?.Columns) {
    for (let i = 0; i < result.Columns.Count; i++) {
      const c = result.Columns.getItem(i);
      columns.set(String(c.Name), String(c.Type.Name));
    }
  }
  return { errors, columns };
}
