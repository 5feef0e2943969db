import type { TokenCredential } from "@azure/identity";
import { TableClient } from "@azure/data-tables";
import type * as z from "zod/mini";
import { statusOf, upstreamError } from "../errors";
import { createPolicy, type CallPolicy } from "../policy";
import { LeaseLost } from "./records";

/**
 * The state table itself: one call policy for every operation, the table made on first use,
 * entity reads (undefined on 404) and conditional writes (undefined when someone wrote first).
 * The incident records, the hourly window and the restore history are built on this.
 */
export interface Table {
  client: TableClient;
  /** One operation under the call policy; failures become UpstreamErrors naming the table and its role. */
  run: <T>(signal: AbortSignal, what: string, fn: (abortSignal: AbortSignal) => Promise<T>) => Promise<T>;
  /** One counter update at a time in this instance (an in-flight bound of 1, abort-aware). */
  oneAtATime: CallPolicy;
  get: <T extends object>(pk: string, rk: string, abortSignal: AbortSignal) => Promise<(T & { etag: string; rowKey?: string }) | undefined>;
  put: (
    entity: { partitionKey: string; rowKey: string } & Record<string, unknown>,
    etag: string | undefined,
    abortSignal: AbortSignal,
  ) => Promise<string | undefined>;
}

export interface TableOptions {
  requestTimeoutMs?: number;
  attempts?: number;
  retryDelayMs?: number;
}

const TABLE_ROLE = "the Storage Table Data Contributor role on the app's storage account";
/** Longer than any invocation's deadline: the caller's signal is what bounds a wait in the queue. */
const QUEUE_TIMEOUT_MS = 10 * 60_000;

export function createTable(client: TableClient, options: TableOptions = {}): Table {
  const endpoint = {
    setting: client.url.includes("127.0.0.1") || client.url.includes("localhost") ? "STATE_TABLE_CONNECTION" : "STATE_TABLE_ENDPOINT",
    url: client.url,
  };
  const policy = createPolicy({
    timeoutMs: options.requestTimeoutMs ?? 10_000,
    attempts: options.attempts ?? 3,
    maxInFlight: 20,
    ...(options.retryDelayMs !== undefined ? { baseDelayMs: options.retryDelayMs } : {}),
  });
  // One counter update at a time in this instance (an in-flight bound of 1, abort-aware): only
  // other instances can then change the count between a read and its conditional write.
  const oneAtATime = createPolicy({ timeoutMs: QUEUE_TIMEOUT_MS, attempts: 1, maxInFlight: 1 });
  let created: Promise<void> | undefined;
  const ensureTable = (signal: AbortSignal) => {
    // createTable succeeds when the table exists already.
    created ??= policy
      .run(signal, (abortSignal) => client.createTable({ abortSignal }))
      .catch((error: unknown) => {
        created = undefined;
        throw error;
      });
    return created;
  };
  const run = async <T>(signal: AbortSignal, what: string, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> => {
    try {
      await ensureTable(signal);
      return await policy.run(signal, fn);
    } catch (error) {
      if (error instanceof LeaseLost) throw error;
      throw upstreamError("state", what, error, TABLE_ROLE, endpoint);
    }
  };
  /** An entity, or undefined on 404. */
  const get = async <T extends object>(pk: string, rk: string, abortSignal: AbortSignal) => {
    try {
      return await client.getEntity<T>(pk, rk, { abortSignal });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  };
  /** Create (no etag) or replace-if-match; false when someone else wrote first. */
  const put = async (
    entity: { partitionKey: string; rowKey: string } & Record<string, unknown>,
    etag: string | undefined,
    abortSignal: AbortSignal,
  ) => {
    try {
      const answer =
        etag === undefined
          ? await client.createEntity(entity, { abortSignal })
          : await client.updateEntity(entity, "Replace", { etag, abortSignal });
      return answer.etag ?? "";
    } catch (error) {
      const status = statusOf(error);
      if (status === 412 || status === 409) return undefined;
      throw error;
    }
  };

  return { client, run, oneAtATime, get, put };
}

/** A JSON property the app wrote, checked against its shape; undefined when it is not that (never "empty"). */
export function parseStored<T>(text: unknown, shape: z.ZodMiniType<T>): T | undefined {
  try {
    const parsed = shape.safeParse(JSON.parse(String(text)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The table client: identity-based on Azure (endpoint + managed identity), a connection string for Azurite. */
export function createTableClient(
  state: { tableName: string } & ({ endpoint: string } | { connectionString: string }),
  credential: TokenCredential,
): TableClient {
  // Retries are the shared policy's (src/policy.ts), not the SDK's.
  const retryOptions = { maxRetries: 0 };
  if ("endpoint" in state) return new TableClient(state.endpoint, state.tableName, credential, { retryOptions });
  const local = /UseDevelopmentStorage=true|127\.0\.0\.1|localhost/i.test(state.connectionString);
  return TableClient.fromConnectionString(state.connectionString, state.tableName, { allowInsecureConnection: local, retryOptions });
}
