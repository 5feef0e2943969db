import type { HttpClient } from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/identity";
import { SecurityInsights } from "@azure/arm-securityinsight";
import type { WorkspaceRef } from "../config";
import { statusOf, upstreamError } from "../errors";
import { createPolicy, type CallPolicy } from "../policy";

/** Stable Sentinel REST api-version (the SDK pins a preview one by default). */
export const SENTINEL_API_VERSION = "2024-09-01";

export const RESPONDER = "the Microsoft Sentinel Responder role on the workspace";

export const ARM_REQUEST_TIMEOUT_MS = 20_000;

// What the documented incident resource must carry for the app to act on it.
export interface SentinelGatewayOptions {
  /** The HTTP transport (default: the SDK's); the world simulation serves ARM in process. */
  httpClient?: HttpClient;
  requestTimeoutMs?: number;
  attempts?: number;
  retryDelayMs?: number;
  maxInFlight?: number;
}

/**
 * The workspace's Sentinel API through Azure Resource Manager: the SDK client, the one call
 * policy, and the two ways a call fails (an error naming the role and the endpoint, or, for a
 * read, undefined on 404). The incident API and the rule reads are built on this.
 */
export interface Arm {
  client: SecurityInsights;
  policy: CallPolicy;
  rg: string;
  ws: string;
  /** Where ARM_ENDPOINT points, named in a failure. */
  endpoint: { setting: string; url: string };
  call: <T>(signal: AbortSignal, what: string, fn: (abortSignal: AbortSignal) => Promise<T>, onNotFound?: () => Error) => Promise<T>;
  readOrMissing: <T>(signal: AbortSignal, what: string, fn: (abortSignal: AbortSignal) => Promise<T>) => Promise<T | undefined>;
}

export function createArm(
  credential: TokenCredential,
  workspace: WorkspaceRef,
  armEndpoint: string,
  options: SentinelGatewayOptions = {},
): Arm {
  const client = new SecurityInsights(credential, workspace.subscriptionId, {
    endpoint: armEndpoint,
    $host: armEndpoint,
    apiVersion: SENTINEL_API_VERSION,
    credentialScopes: [`${armEndpoint}/.default`],
    // Retries, timeouts and throttling are the shared policy's (src/policy.ts), not the SDK's.
    retryOptions: { maxRetries: 0 },
    ...(options.httpClient ? { httpClient: options.httpClient } : {}),
  });
  const policy: CallPolicy = createPolicy({
    timeoutMs: options.requestTimeoutMs ?? ARM_REQUEST_TIMEOUT_MS,
    attempts: options.attempts ?? 4,
    ...(options.retryDelayMs !== undefined ? { baseDelayMs: options.retryDelayMs } : {}),
    maxInFlight: options.maxInFlight ?? 10,
  });
  const { resourceGroup: rg, name: ws } = workspace;
  const arm = { setting: "ARM_ENDPOINT", url: armEndpoint };

  /** One call under the policy; `onNotFound` says what a 404 means (an incident deleted, say). */
  const call = async <T>(
    signal: AbortSignal,
    what: string,
    fn: (abortSignal: AbortSignal) => Promise<T>,
    onNotFound?: () => Error,
  ): Promise<T> => {
    try {
      return await policy.run(signal, fn);
    } catch (error) {
      if (onNotFound && statusOf(error) === 404) throw onNotFound();
      throw upstreamError("sentinel", what, error, RESPONDER, arm);
    }
  };

  /** One read under the policy whose 404 means "no such resource": undefined, not an error. */
  const readOrMissing = async <T>(
    signal: AbortSignal,
    what: string,
    fn: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T | undefined> => {
    try {
      return await policy.run(signal, fn);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw upstreamError("sentinel", what, error, RESPONDER, arm);
    }
  };

  return { client, policy, rg, ws, endpoint: arm, call, readOrMissing };
}
