import { ClientSecretCredential, DefaultAzureCredential, type AccessToken, type TokenCredential } from "@azure/identity";
import { loadConfig, PUBLIC_AUTHORITY_HOST, type Config } from "./config";
import type { Deps } from "./core/remediate";
import { createGraphGateway } from "./graph";
import { createSentinelGateway } from "./sentinel";

/**
 * The one place that builds credentials and clients.
 *
 * With AZURE_CLIENT_SECRET (plus AZURE_TENANT_ID and AZURE_CLIENT_ID) the app uses that app
 * registration; otherwise DefaultAzureCredential, which on Azure is the managed identity
 * (AZURE_CLIENT_ID selects a user-assigned one) and on a workstation the Azure CLI login.
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

/**
 * Reuses each access token until two minutes before it expires. The Graph client asks the
 * credential for a token on every request; without this, every Graph call goes through the
 * identity library's token lookup. Concurrent callers share one request for a new token.
 */
export function reuseTokens(credential: TokenCredential): TokenCredential {
  const entries = new Map<string, { promise: Promise<AccessToken | null>; expires?: number }>();
  return {
    getToken(scopes, options) {
      const key = ([] as string[]).concat(scopes).join(" ");
      const known = entries.get(key);
      // In flight (no expiry yet) or still valid for two minutes: share it.
      if (known && (known.expires === undefined || known.expires - Date.now() > 120_000)) return known.promise;
      const entry: { promise: Promise<AccessToken | null>; expires?: number } = { promise: credential.getToken(scopes, options) };
      entry.promise.then(
        (token) => (token ? (entry.expires = token.expiresOnTimestamp) : entries.delete(key)),
        () => entries.delete(key),
      );
      entries.set(key, entry);
      return entry.promise;
    },
  };
}

/** Timings that tests and benchmarks shorten; production uses the defaults. */
export interface Tuning {
  requestTimeoutMs?: number;
  packageCacheTtlMs?: number;
  maxInFlight?: number;
}

export function buildDeps(config: Config, identity: TokenCredential = createCredential(config.identity), tuning: Tuning = {}): Deps {
  const credential = reuseTokens(identity);
  return {
    config,
    graph: createGraphGateway(credential, config.graphEndpoint, tuning),
    sentinel: createSentinelGateway(credential, config.workspace, config.armEndpoint, tuning),
  };
}

let instanceDeps: Deps | undefined;

/** Deps for this process, built on first use from the environment and reused afterwards. */
export function depsFromEnvironment(): Deps {
  instanceDeps ??= buildDeps(loadConfig(process.env));
  return instanceDeps;
}
