import type { TokenCredential } from "@azure/identity";
import { TableClient } from "@azure/data-tables";
import * as z from "zod/mini";
import { statusOf, upstreamError } from "./errors";
import type { Outcome, Pair, Wave } from "./core/domain";
import { createPolicy } from "./policy";

/**
 * The states a record can be in: where a run stopped ("new": claimed, no decision yet;
 * "reprocess-requested": the wave is recorded) or the outcome it reached. Never stored:
 * "in-progress" (another run's) and "already-closed" (nothing to record).
 */
export type PersistedState = Settled | "new" | "reprocess-requested";

/** The outcomes a run records (and comments on). */
export type Settled = Exclude<Outcome, "in-progress" | "already-closed">;

export const PERSISTED_STATES = [
  "new",
  "reprocess-requested",
  "remediated",
  "closed-by-other",
  "partly-restored",
  "dry-run",
  "held",
  "nothing-to-reprocess",
  "no-account",
  "awaiting-delivery",
  "capped",
  "delivery-not-seen",
  "failed",
] as const satisfies readonly PersistedState[];
// Every state is in the list (the compiler says which one is missing).
const everyState: Exclude<PersistedState, (typeof PERSISTED_STATES)[number]> extends never ? true : never = true;
void everyState;

/**
 * The app's persisted state of one incident (the state machine of docs/safety.md). `outcome` is
 * the state; every write is conditional on the etag of the read (or write) before it, so a
 * retry, the sweeper or another instance resumes from here and never repeats a step.
 */
export interface IncidentRecord {
  /** The state the last run reached. */
  outcome: PersistedState;
  /** The last run was a dry run: nothing was changed, and no failure of it counts as an attempt. */
  dryRun: boolean;
  /**
   * That dry run was asked for by hand (the CLI's --dry-run) while the deployment enforces: the
   * enforcing sweeper treats the incident as never handled.
   */
  byHand?: boolean;
  /** The state's comment could not be written (the incident was closed, or the run failed): the next run writes it. */
  unsaid?: boolean;
  /** Enforcing runs in a row that failed. */
  failures: number;
  /** Set once reprocess was requested: later runs only verify it (and its pairs). */
  wave?: Wave;
  /** Comments the app wrote on the incident; the next one's id derives from this count. */
  comments: number;
  /** The reason of the state, one sentence (shown by `status`). */
  reason?: string;
  /** One run at a time: the run holding the incident and until when. */
  lease?: { owner: string; until: number };
  /** When the record was written (epoch ms). */
  updatedAt: number;
  /** The incident's number and title when the record was written (shown by `status`). */
  incident?: { number?: number; title: string };
  /**
   * The row held something this app cannot read: why, and (the start of) what it held. It stays
   * until an admin deletes the row; meanwhile every run holds the incident (it cannot tell
   * whether a wave was requested) and counts an attempt.
   */
  damaged?: { reason: string; text: string };
}

/** What a run claims: the record as it read it, the lease it wants, and the time now. */
export interface Claim {
  stored: Stored;
  lease: { owner: string; until: number };
  now: number;
}

/** A record as stored, with the etag its next write must match. */
export interface Stored {
  record: IncidentRecord | undefined;
  etag: string | undefined;
}

export interface Reservation {
  granted: boolean;
  /** Users restored in the rolling hour, this reservation included when granted. */
  used: number;
  /** When granted: the minute bucket counted, to release it again. */
  bucket?: number;
  /** When refused: the earliest time the window frees enough (epoch ms), when known. */
  freesAt?: number;
  /** When refused because the counter cannot be trusted: why. */
  problem?: string;
}

/** The run lost its lease: another run took the incident over (after this one's lease expired). */
export class LeaseLost extends Error {
  override readonly name = "LeaseLost";
}

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

export const pairKey = (p: Pair) => `${p.userId}_${p.kind}_${p.targetId}`;

const TABLE_ROLE = "the Storage Table Data Contributor role on the app's storage account";
const RESERVE_ATTEMPTS = 10;
const WRITE_ATTEMPTS = 5;
/** Longer than any invocation's deadline: the caller's signal is what bounds a wait in the queue. */
const QUEUE_TIMEOUT_MS = 10 * 60_000;
const MINUTE = 60_000;
/**
 * The rolling hour is counted in minute buckets. Sixty-one of them (the current minute and the
 * sixty before it) cover every 60-minute span, so no span, wherever it starts, passes the cap.
 */
const WINDOW_BUCKETS = 61;
const DAY = 24 * 60 * MINUTE;
/** Restores kept per pair: more than any sensible REPEAT_RESTORE_LIMIT. */
const PAIR_HISTORY = 50;

const count = z.number().check(z.int(), z.gte(0));
const pairShape = z.object({ userId: z.string(), kind: z.enum(["group", "owner", "app"]), targetId: z.string() });
const recordShape = z.object({
  outcome: z.enum(PERSISTED_STATES),
  dryRun: z.boolean(),
  byHand: z.optional(z.boolean()),
  unsaid: z.optional(z.boolean()),
  failures: count,
  comments: z._default(count, 0),
  wave: z.optional(
    z.object({
      requestedAt: z.number(),
      assignments: z.array(
        z.object({
          userId: z.string(),
          assignmentId: z.string(),
          accessPackageId: z.string(),
          accessPackageName: z.optional(z.string()),
          state: z.string(),
        }),
      ),
      pairs: z.array(pairShape),
      failed: z.optional(z.array(z.object({ assignmentId: z.string(), error: z.string() }))),
      left: z.optional(z.array(z.extend(pairShape, { reason: z.string() }))),
    }),
  ),
  reason: z.optional(z.string()),
  lease: z.optional(z.object({ owner: z.string(), until: z.number() })),
  updatedAt: z.number(),
  incident: z.optional(z.object({ number: z.optional(z.number()), title: z.string() })),
  damaged: z.optional(z.object({ reason: z.string(), text: z.string() })),
});
const bucketsShape = z.record(z.string().check(z.regex(/^\d+$/)), z.number().check(z.int(), z.gte(0)));
const timesShape = z.array(z.number());

export function createTableStore(
  client: TableClient,
  options: { requestTimeoutMs?: number; attempts?: number; retryDelayMs?: number } = {},
): StateStore {
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

  const read = (incidentId: string, signal: AbortSignal): Promise<Stored> =>
    run(signal, `read the state of incident ${incidentId}`, async (abortSignal) => {
      const e = await get<{ record: string }>("incident", incidentId, abortSignal);
      if (!e) return { record: undefined, etag: undefined };
      return { record: parseRecord(e.record), etag: e.etag };
    });

  return {
    read,

    async claim(incidentId, { stored, lease, now }, signal) {
      const held = stored.record?.lease;
      if (held && held.owner !== lease.owner && leaseHolds(held, now)) return undefined;
      const record: IncidentRecord = {
        ...(stored.record ?? { outcome: "new", dryRun: false, failures: 0, comments: 0, updatedAt: now }),
        lease,
      };
      return run(signal, `claim incident ${incidentId}`, (abortSignal) =>
        put({ partitionKey: "incident", rowKey: incidentId, record: JSON.stringify(record) }, stored.etag, abortSignal),
      );
    },

    async save(incidentId, record, etag, signal) {
      const next = await run(signal, `write the state of incident ${incidentId}`, (abortSignal) =>
        put({ partitionKey: "incident", rowKey: incidentId, record: JSON.stringify(record) }, etag, abortSignal),
      );
      if (next === undefined) throw new LeaseLost(`the state of incident ${incidentId} was changed by another run`);
      return next;
    },

    reserveRestores(users, cap, now, signal) {
      return oneAtATime.run(signal, (turn) =>
        run(turn, "count restores in the last hour", async (abortSignal) => {
          for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
            const e = await get<{ buckets: string }>("restores", "window", abortSignal);
            const parsed = e ? parseBuckets(e.buckets) : {};
            // Fail closed: a counter nobody can read grants nothing.
            if (parsed === undefined) return { granted: false, used: 0, problem: UNREADABLE_COUNTER };
            const { minute, live, used } = inWindow(parsed, now);
            if (used + users > cap) return { granted: false, used, freesAt: freesAt(live, used + users - cap) };
            const buckets = Object.fromEntries(live);
            buckets[String(minute)] = (buckets[String(minute)] ?? 0) + users;
            const etag = await put({ partitionKey: "restores", rowKey: "window", buckets: JSON.stringify(buckets) }, e?.etag, abortSignal);
            if (etag !== undefined) return { granted: true, used: used + users, bucket: minute };
            // Another instance counted first: read again.
          }
          throw new Error(`the hourly count kept changing under ${RESERVE_ATTEMPTS} attempts`);
        }),
      );
    },

    async releaseRestores(reservation, users, signal) {
      const bucket = reservation.bucket;
      if (!reservation.granted || bucket === undefined) return;
      await oneAtATime.run(signal, (turn) =>
        run(turn, "give back restores of the last hour", async (abortSignal) => {
          for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
            const e = await get<{ buckets: string }>("restores", "window", abortSignal);
            const buckets = e ? parseBuckets(e.buckets) : undefined;
            if (!e || !buckets || buckets[String(bucket)] === undefined) return;
            buckets[String(bucket)] = Math.max(0, (buckets[String(bucket)] ?? 0) - users);
            if (
              (await put({ partitionKey: "restores", rowKey: "window", buckets: JSON.stringify(buckets) }, e.etag, abortSignal)) !==
              undefined
            )
              return;
          }
        }),
      );
    },

    async restoresOf(pairs, since, signal) {
      const counts = await Promise.all(
        pairs.map((p) =>
          run(signal, `read how often ${pairKey(p)} was restored`, async (abortSignal) => {
            const e = await get<{ times: string }>("pair", pairKey(p), abortSignal);
            // A history nobody can read is not "never restored": the repeat guard holds on it.
            const times = e ? parseTimes(e.times) : [];
            return [pairKey(p), times === undefined ? ("unreadable" as const) : times.filter((t) => t >= since).length] as const;
          }),
        ),
      );
      return new Map(counts);
    },

    async probe(signal) {
      const rowKey = `doctor-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      await run(signal, "write, read and delete a probe row", async (abortSignal) => {
        await client.createEntity({ partitionKey: "probe", rowKey, at: new Date().toISOString() }, { abortSignal });
        await client.getEntity("probe", rowKey, { abortSignal });
        await client.deleteEntity("probe", rowKey, { abortSignal });
      });
    },

    listRecords: (max, signal) =>
      run(signal, "list incident states", async (abortSignal) => {
        const out: { incidentId: string; record: IncidentRecord }[] = [];
        const pages = client
          .listEntities<{ record: string }>({ queryOptions: { filter: "PartitionKey eq 'incident'" }, abortSignal })
          .byPage({ maxPageSize: 100 });
        for await (const page of pages) {
          for (const e of page) out.push({ incidentId: e.rowKey ?? "", record: parseRecord(e.record) });
          if (out.length >= max) break;
        }
        return out.slice(0, max);
      }),

    windowUse: (now, signal) =>
      run(signal, "read the restores of the last hour", async (abortSignal) => {
        const e = await get<{ buckets: string }>("restores", "window", abortSignal);
        const parsed = e ? parseBuckets(e.buckets) : {};
        if (parsed === undefined) return { used: 0, problem: UNREADABLE_COUNTER };
        const { live, used } = inWindow(parsed, now);
        // When the oldest counted user leaves the window: when one more would fit at the cap.
        const oldestLeavesAt = freesAt(live, 1);
        return { used, ...(oldestLeavesAt !== undefined ? { oldestLeavesAt } : {}) };
      }),

    noteSweep: (sweep, signal) =>
      run(signal, "note the sweep", async (abortSignal) => {
        await client.upsertEntity({ partitionKey: "sweep", rowKey: "last", note: JSON.stringify(sweep) }, "Replace", { abortSignal });
      }),

    lastSweep: (signal) =>
      run(signal, "read the last sweep", async (abortSignal) => {
        const e = await get<{ note: string }>("sweep", "last", abortSignal);
        return e ? (JSON.parse(e.note) as SweepNote) : undefined;
      }),

    async noteRestores(pairs, now, signal) {
      await Promise.all(
        pairs.map((p) =>
          run(signal, `note a restore of ${pairKey(p)}`, async (abortSignal) => {
            for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
              const e = await get<{ times: string }>("pair", pairKey(p), abortSignal);
              const times = [...((e ? parseTimes(e.times) : []) ?? []).filter((t) => t > now - DAY), now].slice(-PAIR_HISTORY);
              if (
                (await put({ partitionKey: "pair", rowKey: pairKey(p), times: JSON.stringify(times) }, e?.etag, abortSignal)) !== undefined
              )
                return;
            }
            throw new Error(`the restore history of ${pairKey(p)} kept changing under ${WRITE_ATTEMPTS} attempts`);
          }),
        ),
      );
    },
  };
}

const UNREADABLE_COUNTER = "the hourly counter in the state table is unreadable";

/** Longer than any run holds an incident (the webhook's 100 s deadline, the sweeper's 4 minutes) with margin. */
export const MAX_LEASE_MS = 5 * 60_000;

/**
 * Whether another run still holds the incident: its lease has not ended, and does not end later
 * than any run could last (a lease dated in 2100 would silence the incident for good).
 */
export function leaseHolds(lease: { until: number }, now: number): boolean {
  return lease.until > now && lease.until <= now + MAX_LEASE_MS;
}

/** The minute buckets still in the rolling window ending `now`, and the users they count. */
function inWindow(buckets: Record<string, number>, now: number): { minute: number; live: [string, number][]; used: number } {
  const minute = Math.floor(now / MINUTE);
  // A bucket dated after this minute (a clock far ahead, a bad write) counts for nobody and is dropped
  // at the next write; one minute ahead is another instance's clock.
  const live = Object.entries(buckets).filter(([m]) => Number(m) > minute - WINDOW_BUCKETS && Number(m) <= minute + 1);
  return { minute, live, used: live.reduce((sum, [, n]) => sum + n, 0) };
}

/** When enough minute buckets leave the window for `excess` more users to fit (undefined: never, the request is larger than the cap). */
function freesAt(live: [string, number][], excess: number): number | undefined {
  let freed = 0;
  for (const [m, n] of [...live].sort((a, b) => Number(a[0]) - Number(b[0]))) {
    freed += n;
    if (freed >= excess) return (Number(m) + WINDOW_BUCKETS) * MINUTE;
  }
  return undefined;
}

function parseBuckets(text: unknown): Record<string, number> | undefined {
  try {
    const parsed = bucketsShape.safeParse(JSON.parse(String(text)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function parseTimes(text: unknown): number[] | undefined {
  try {
    const parsed = timesShape.safeParse(JSON.parse(String(text)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** What of a damaged row the record keeps (for the admin who repairs it). */
const DAMAGED_TEXT = 2_000;

/**
 * A record as written, validated field by field. A row the app cannot read is not "no record"
 * (acting as if there were none could repeat a wave): it becomes a damaged record, which every
 * run holds on.
 */
function parseRecord(text: unknown): IncidentRecord {
  let json: unknown;
  try {
    json = typeof text === "string" ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = recordShape.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const reason = json === undefined ? "it is not JSON" : `${issue?.path.join(".") || "the record"}: ${issue?.message ?? "invalid"}`;
  const kept = typeof text === "string" ? text.slice(0, DAMAGED_TEXT) : String(typeof text);
  const old = json as { failures?: unknown; comments?: unknown } | undefined;
  const num = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : 0);
  return {
    outcome: "held",
    dryRun: false,
    failures: num(old?.failures),
    comments: num(old?.comments),
    updatedAt: 0,
    damaged: { reason, text: kept },
  };
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
