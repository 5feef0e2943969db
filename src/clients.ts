import type { HttpClient } from "@azure/core-rest-pipeline";
import { ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from "@azure/identity";
import { loadConfig, PUBLIC_AUTHORITY_HOST, type Config } from "./config";
import type { Deps } from "./deps";
import { createGraphGateway } from "./graph";
import { createSentinelGateway } from "./sentinel";
import { createTableClient, createTableStore } from "./store";

/**
 * The one place that builds credentials and clients.
 *
 * With AZURE_CLIENT_SECRET (plus AZURE_TENANT_ID and AZURE_CLIENT_ID) the app uses that app
 * registration; otherwise DefaultAzureCredential, which on Azure is the managed identity
 * (AZURE_CLIENT_ID selects a user-assigned one) and on a workstation the Azure CLI login.
 * Both cache tokens themselves (by scope and claims), so nothing here caches on top.
 */
export function createCredential(identity: Config["identity"]): TokenCredential {
  const { clientId, tenantId, clientSecret, authorityHost } = identity;
  if (clientSecret !== undefined && tenantId !== undefined && clientId !== undefined) {
    // MSAL's instance discovery asks the public cloud about the authority and fails for any
    // other host (a sovereign cloud's or the local fake tenant's): skip it for those.
    const custom = authorityHost !== undefined && new URL(authorityHost).origin !== PUBLIC_AUTHORITY_HOST;
    return new ClientSecretCredential(tenantId, clientId, clientSecret, {
      ...(authorityHost !== undefined ? { authorityHost } : {}),
      disableInstanceDiscovery: custom,
    });
  }
  return new DefaultAzureCredential(clientId !== undefined ? { managedIdentityClientId: clientId } : {});
}

/** Timings that tests and benchmarks shorten; production uses the defaults. */
export interface Tuning {
  requestTimeoutMs?: number;
  attempts?: number;
  /** First wait before a retry (doubles on each); tests shorten it. */
  retryDelayMs?: number;
  packageCacheTtlMs?: number;
  maxInFlight?: number;
  /** HTTP transports: Graph's fetch and the Azure SDKs' client (the world simulation serves both in process). */
  fetch?: typeof fetch;
  httpClient?: HttpClient;
}

export function buildDeps(config: Config, credential: TokenCredential = createCredential(config.identity), tuning: Tuning = {}): Deps {
  const { requestTimeoutMs, attempts, retryDelayMs, maxInFlight, packageCacheTtlMs, fetch, httpClient } = tuning;
  const common = {
    ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
    ...(attempts !== undefined ? { attempts } : {}),
    ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
  };
  return {
    config,
    graph: createGraphGateway(credential, config.graphEndpoint, {
      ...common,
      ...(packageCacheTtlMs !== undefined ? { packageCacheTtlMs } : {}),
      limits: config.limits,
      catalogIds: config.catalogIds,
      ...(fetch ? { fetch } : {}),
    }),
    sentinel: createSentinelGateway(credential, config.workspace, config.armEndpoint, { ...common, ...(httpClient ? { httpClient } : {}) }),
    store: createTableStore(createTableClient(config.state, credential), {
      ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
      ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
    }),
    now: Date.now,
  };
}

let instanceDeps: Deps | undefined;

/** Deps for this process, built on first use from the environment and reused afterwards. */
export function depsFromEnvironment(): Deps {
  instanceDeps ??= buildDeps(loadConfig(process.env));
  return instanceDeps;
}
