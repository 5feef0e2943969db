import type { TokenCredential } from "@azure/identity";
import { TableClient } from "@azure/data-tables";
import { statusOf, upstreamError } from "./errors";
import { createPolicy } from "./policy";

/** What the app remembers about an incident between runs (webhook, sweeper, other instances). */
export interface IncidentRecord {
  /** The outcome of the last run. */
  outcome: string;
  /** Whether the last run was a dry run. */
  dryRun: boolean;
  /** Runs in a row that failed. */
  failures: number;
  /** Set while reprocess was requested and Entra ID's delivery is awaited (epoch ms of the request). */
  waitingSince?: number;
  /** What to check for delivery: each restored user and the groups they should be back in. */
  verify?: { userId: string; groups: string[] }[];
  /** The incident's lastModifiedTimeUtc when the run ended (epoch ms): a later change is an analyst's. */
  incidentModified?: number;
  /** When the record was written (epoch ms). */
  updatedAt: number;
}

export interface Reservation {
  granted: boolean;
  /** Restores counted in this hour, this reservation included when granted. */
  used: number;
}

/** Shared state in a table of the app's storage account. Every call stops when `signal` aborts. */
export interface StateStore {
  getIncident(incidentId: string, signal: AbortSignal): Promise<IncidentRecord | undefined>;
  putIncident(incidentId: string, record: IncidentRecord, signal: AbortSignal): Promise<void>;
  /**
   * Counts `users` restores against the clock hour of `now`, unless that would pass `cap`.
   * Optimistic concurrency (etags) makes the count exact across instances.
   */
  reserveRestores(users: number, cap: number, now: number, signal: AbortSignal): Promise<Reservation>;
}

const TABLE_ROLE = "the Storage Table Data Contributor role on the app's storage account";
const RESERVE_ATTEMPTS = 10;
/** Longer than any invocation's deadline: the caller's signal is what bounds a wait in the queue. */
const QUEUE_TIMEOUT_MS = 10 * 60_000;

export function createTableStore(client: TableClient, options: { requestTimeoutMs?: number } = {}): StateStore {
  const policy = createPolicy({ timeoutMs: options.requestTimeoutMs ?? 10_000, attempts: 3, maxInFlight: 20 });
  // One reservation at a time in this instance (an in-flight bound of 1, abort-aware): only other
  // instances can then change the count between a read and its conditional write, so a burst on
  // one instance no longer exhausts RESERVE_ATTEMPTS on its own etag conflicts.
  const oneAtATime = createPolicy({ timeoutMs: QUEUE_TIMEOUT_MS, attempts: 1, maxInFlight: 1 });
  let created: Promise<void> | undefined;
  const ensureTable = (signal: AbortSignal) => {
    // createTable succeeds when the table exists already.
    created ??= policy.run(signal, (abortSignal) => client.createTable({ abortSignal })).catch((error: unknown) => {
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
      throw upstreamError("state", what, error, TABLE_ROLE);
    }
  };

  return {
    async getIncident(incidentId, signal) {
      return run(signal, `read the state of incident ${incidentId}`, async (abortSignal) => {
        try {
          const e = await client.getEntity<{ record: string }>("incident", incidentId, { abortSignal });
          return JSON.parse(e.record) as IncidentRecord;
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      });
    },

    async putIncident(incidentId, record, signal) {
      await run(signal, `write the state of incident ${incidentId}`, (abortSignal) =>
        client.upsertEntity({ partitionKey: "incident", rowKey: incidentId, record: JSON.stringify(record) }, "Replace", { abortSignal }),
      );
    },

    async reserveRestores(users, cap, now, signal) {
      const hour = new Date(now).toISOString().slice(0, 13); // e.g. 2026-11-23T11
      return oneAtATime.run(signal, (turn) => run(turn, "count restores this hour", async (abortSignal) => {
        for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
          let current: { count: number; etag: string } | undefined;
          try {
            const e = await client.getEntity<{ count: number }>("restores", hour, { abortSignal });
            current = { count: e.count, etag: e.etag };
          } catch (error) {
            if (statusOf(error) !== 404) throw error;
          }
          const used = (current?.count ?? 0) + users;
          if (used > cap) return { granted: false, used: current?.count ?? 0 };
          try {
            if (current) {
              await client.updateEntity({ partitionKey: "restores", rowKey: hour, count: used }, "Replace", { etag: current.etag, abortSignal });
            } else {
              await client.createEntity({ partitionKey: "restores", rowKey: hour, count: used }, { abortSignal });
            }
            return { granted: true, used };
          } catch (error) {
            // Another instance counted first (412 on update, 409 on create): read again.
            const status = statusOf(error);
            if (status !== 412 && status !== 409) throw error;
          }
        }
        throw new Error(`the hourly count kept changing under ${RESERVE_ATTEMPTS} attempts`);
      }));
    },
  };
}

/** The table client: identity-based on Azure (endpoint + managed identity), a connection string for Azurite. */
export function createTableClient(state: { tableName: string } & ({ endpoint: string } | { connectionString: string }), credential: TokenCredential): TableClient {
  if ("endpoint" in state) return new TableClient(state.endpoint, state.tableName, credential);
  const local = /UseDevelopmentStorage=true|127\.0\.0\.1|localhost/i.test(state.connectionString);
  return TableClient.fromConnectionString(state.connectionString, state.tableName, { allowInsecureConnection: local });
}
