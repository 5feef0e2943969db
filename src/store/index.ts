import type { TableClient } from "@azure/data-tables";
import type { Pair } from "../core/domain";
import { restoreHistory } from "./history";
import { incidentRecords, type Claim, type IncidentRecord, type Stored } from "./records";
import { createTable, type TableOptions } from "./table";
import { hourlyWindow, type Reservation } from "./window";

export { pairKey } from "./history";
export { LeaseLost, leaseHolds, MAX_LEASE_MS, PERSISTED_STATES } from "./records";
export type { Claim, IncidentRecord, PersistedState, Settled, Stored } from "./records";
export { createTableClient } from "./table";
export type { Reservation } from "./window";

/** Shared state in a table of the app's storage account. Every call stops when `signal` aborts. */
export interface StateStore {
  /** The record and its etag (both undefined when none). */
  read(incidentId: string, signal: AbortSignal): Promise<Stored>;
  /**
   * Takes the incident's lease, unless another owner holds an unexpired one in `claim.stored` or
   * wrote since it was read (then undefined). Conditional on the etag read, so two runs never
   * both get it. Returns the etag the run's next write must match.
   */
  claim(incidentId: string, claim: Claim, signal: AbortSignal): Promise<string | undefined>;
  /** Writes the record if it is still at `etag`; throws LeaseLost when it is not. Returns the new etag. */
  save(incidentId: string, record: IncidentRecord, etag: string | undefined, signal: AbortSignal): Promise<string>;
  /** Counts `users` restores in the rolling hour ending `now`, unless that would pass `cap`. Exact across instances. */
  reserveRestores(users: number, cap: number, now: number, signal: AbortSignal): Promise<Reservation>;
  /** Gives back a granted reservation that was not used (best effort). */
  releaseRestores(reservation: Reservation, users: number, signal: AbortSignal): Promise<void>;
  /** How often each pair was restored since `since` (epoch ms), keyed by pairKey. */
  restoresOf(pairs: Pair[], since: number, signal: AbortSignal): Promise<Map<string, number | "unreadable">>;
  /** Notes a restore of each pair at `now` (keeps the last day). */
  noteRestores(pairs: Pair[], now: number, signal: AbortSignal): Promise<void>;
  /** Writes, reads back and deletes a probe row (the doctor): proves the table and the role. */
  probe(signal: AbortSignal): Promise<void>;
  /** Incident records, at most `max` (the `status` view). */
  listRecords(max: number, signal: AbortSignal): Promise<{ incidentId: string; record: IncidentRecord }[]>;
  /** Users counted in the rolling hour ending `now`, and when the oldest of them leaves it (no write). */
  windowUse(now: number, signal: AbortSignal): Promise<{ used: number; oldestLeavesAt?: number; problem?: string }>;
  /** What the last sweep did (written by the sweeper, read by `status`). */
  noteSweep(sweep: SweepNote, signal: AbortSignal): Promise<void>;
  lastSweep(signal: AbortSignal): Promise<SweepNote | undefined>;
}

export interface SweepNote {
  at: number;
  listed: number;
  ran: number;
  failed: number;
  recent: number;
}

/**
 * The app's shared state in one table of its storage account: the incident records
 * (src/store/records.ts), the hourly window (window.ts) and the restore history (history.ts),
 * plus the last sweep's note and the doctor's probe.
 */
export function createTableStore(client: TableClient, options: TableOptions = {}): StateStore {
  const table = createTable(client, options);
  const { run, get } = table;
  return {
    ...incidentRecords(table),
    ...hourlyWindow(table),
    ...restoreHistory(table),
    async probe(signal) {
      const rowKey = `doctor-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      await run(signal, "write, read and delete a probe row", async (abortSignal) => {
        await client.createEntity({ partitionKey: "probe", rowKey, at: new Date().toISOString() }, { abortSignal });
        await client.getEntity("probe", rowKey, { abortSignal });
        await client.deleteEntity("probe", rowKey, { abortSignal });
      });
    },

    noteSweep: (sweep, signal) =>
      run(signal, "note the sweep", async (abortSignal) => {
        await client.upsertEntity({ partitionKey: "sweep", rowKey: "last", note: JSON.stringify(sweep) }, "Replace", { abortSignal });
      }),

    lastSweep: (signal) =>
      run(signal, "read the last sweep", async (abortSignal) => {
        const e = await get<{ note: string }>("sweep", "last", abortSignal);
        return e ? (JSON.parse(e.note) as SweepNote) : undefined;
      }),
  };
}
