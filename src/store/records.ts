import * as z from "zod/mini";
import type { Outcome, Wave } from "../core/domain";
import type { Table } from "./table";

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

/** The run lost its lease: another run took the incident over (after this one's lease expired). */
export class LeaseLost extends Error {
  override readonly name = "LeaseLost";
}

/** Longer than any run holds an incident (the webhook's 100 s deadline, the sweeper's 4 minutes) with margin. */
export const MAX_LEASE_MS = 5 * 60_000;

/**
 * Whether another run still holds the incident: its lease has not ended, and does not end later
 * than any run could last (a lease dated in 2100 would silence the incident for good).
 */
export function leaseHolds(lease: { until: number }, now: number): boolean {
  return lease.until > now && lease.until <= now + MAX_LEASE_MS;
}

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

/** The incident records: read, claimed, saved, listed. Every write is conditional on the etag before it. */
export function incidentRecords({ client, run, get, put }: Table) {
  const read = (incidentId: string, signal: AbortSignal): Promise<Stored> =>
    run(signal, `read the state of incident ${incidentId}`, async (abortSignal) => {
      const e = await get<{ record: string }>("incident", incidentId, abortSignal);
      if (!e) return { record: undefined, etag: undefined };
      return { record: parseRecord(e.record), etag: e.etag };
    });
  return {
    read,
    async claim(incidentId: string, { stored, lease, now }: Claim, signal: AbortSignal): Promise<string | undefined> {
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

    async save(incidentId: string, record: IncidentRecord, etag: string | undefined, signal: AbortSignal): Promise<string> {
      const next = await run(signal, `write the state of incident ${incidentId}`, (abortSignal) =>
        put({ partitionKey: "incident", rowKey: incidentId, record: JSON.stringify(record) }, etag, abortSignal),
      );
      if (next === undefined) throw new LeaseLost(`the state of incident ${incidentId} was changed by another run`);
      return next;
    },

    listRecords: (max: number, signal: AbortSignal) =>
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
  };
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
