import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { RequestError, UpstreamError } from "./errors";

/** The app role the webhook's app registration defines and the playbook's identity is assigned. */
export const WEBHOOK_ROLE = "Webhook.Invoke";

/** Who may call the webhook, and where their tokens come from (Entra ID mode). */
export interface WebhookIdentity {
  /** The tenant whose v2 tokens are accepted (lower case). */
  tenantId: string;
  /** The webhook's app registration client id: the only accepted audience. */
  audience: string;
  /** Object id (oid) of the one identity allowed: the playbook's (lower case). */
  caller: string;
  /** Entra authority host (origin), e.g. https://login.microsoftonline.com. */
  authorityHost: string;
}

/** Throws RequestError (401/403) unless the Authorization header carries a valid token of the allowed caller. */
export type CallerCheck = (authorization: string | null) => Promise<void>;

const KEYS_TIMEOUT_MS = 5_000;

/**
 * Validates the caller's bearer token in code, whatever sits in front (App Service
 * authentication is the first gate, but its x-ms-client-principal-* headers are trustworthy only
 * while it runs, and they never let anyone in here): the signature against the keys the tenant's
 * OpenID configuration publishes (cached by jose, fetched again on an unknown key id), the v2
 * issuer, the audience, the lifetime, then `oid` and the app role.
 */
export function createCallerCheck(identity: WebhookIdentity, keys?: JWTVerifyGetKey): CallerCheck {
  const base = `${identity.authorityHost}/${identity.tenantId}`;
  const jwks =
    keys ?? createRemoteJWKSet(new URL(`${base}/discovery/v2.0/keys`), { timeoutDuration: KEYS_TIMEOUT_MS, cooldownDuration: 30_000 });
  return async (authorization) => {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
    if (!token)
      throw new RequestError("Unauthenticated", "No bearer token: the webhook requires an Entra ID token for its app registration");
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, {
        issuer: `${base}/v2.0`,
        audience: identity.audience,
        algorithms: ["RS256"],
        clockTolerance: 60,
        requiredClaims: ["exp", "oid"],
      }));
    } catch (error) {
      throw refusal(error);
    }
    if (String(claims.oid).toLowerCase() !== identity.caller) {
      throw new RequestError(
        "CallerNotAllowed",
        "The token's caller (oid) is not the identity allowed to call this webhook (WEBHOOK_ALLOWED_CALLER)",
      );
    }
    if (!Array.isArray(claims.roles) || !claims.roles.includes(WEBHOOK_ROLE)) {
      throw new RequestError("CallerNotAllowed", `The token does not carry the app role ${WEBHOOK_ROLE} of the webhook's app registration`);
    }
  };
}

/**
 * A token that fails validation is the caller's problem (401); keys we could not fetch (no
 * answer, an error status, an unreadable key set) are ours (503, retried by the playbook).
 */
function refusal(error: unknown): Error {
  const keysUnavailable =
    error instanceof errors.JWKSTimeout ||
    error instanceof errors.JWKSInvalid ||
    // jose's generic error is what a key set fetch answered with an error status raises.
    (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC") ||
    !(error instanceof errors.JOSEError);
  if (keysUnavailable) {
    const detail = error instanceof Error ? error.message : String(error);
    return new UpstreamError("login", undefined, `Entra ID could not give the token signing keys: ${detail}`);
  }
  const why =
    error instanceof errors.JWTExpired
      ? "it has expired"
      : error instanceof errors.JWTClaimValidationFailed
        ? `its ${error.claim} claim is not the expected one`
        : error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWSSignatureVerificationFailed
          ? "it is not signed by the tenant's keys"
          : "it is malformed";
  return new RequestError("Unauthenticated", `The bearer token is not valid for this webhook: ${why}`);
}
