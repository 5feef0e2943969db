import type { TokenCredential } from "@azure/identity";
import type { WorkspaceRef } from "../config";
import { createArm, type SentinelGatewayOptions } from "./arm";
import { incidentApi, type IncidentApi } from "./incidents";
import { ruleReads, type RuleReads } from "./rules";

export { ARM_REQUEST_TIMEOUT_MS, SENTINEL_API_VERSION, type SentinelGatewayOptions } from "./arm";
export * from "./incidents";
export * from "./rules";

/** Everything the app asks Sentinel: the incident API (src/sentinel/incidents.ts) and the rule reads `doctor` uses (rules.ts). */
export type SentinelGateway = IncidentApi & RuleReads;

export function createSentinelGateway(
  credential: TokenCredential,
  workspace: WorkspaceRef,
  armEndpoint: string,
  options: SentinelGatewayOptions = {},
): SentinelGateway {
  const arm = createArm(credential, workspace, armEndpoint, options);
  return { ...incidentApi(arm), ...ruleReads(arm) };
}
