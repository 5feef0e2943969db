import * as z from "zod/mini";
import { parseStored, type Table } from "./table";

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

const RESERVE_ATTEMPTS = 10;
const MINUTE = 60_000;
/**
 * The rolling hour is counted in minute buckets. Sixty-one of them (the current minute and the
 * sixty before it) cover every 60-minute span, so no span, wherever it starts, passes the cap.
 */
const WINDOW_BUCKETS = 61;
const UNREADABLE_COUNTER = "the hourly counter in the state table is unreadable";
const bucketsShape = z.record(z.string().check(z.regex(/^\d+$/)), z.number().check(z.int(), z.gte(0)));

/** The tenant-wide count of users restored in the rolling hour: one entity, read and written with its etag. */
export function hourlyWindow({ run, get, put, oneAtATime }: Table) {
  return {
    reserveRestores(users: number, cap: number, now: number, signal: AbortSignal): Promise<Reservation> {
      return oneAtATime.run(signal, (turn) =>
        run(turn, "count restores in the last hour", async (abortSignal) => {
          for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
            const e = await get<{ buckets: string }>("restores", "window", abortSignal);
            const parsed = e ? parseStored(e.buckets, bucketsShape) : {};
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

    async releaseRestores(reservation: Reservation, users: number, signal: AbortSignal): Promise<void> {
      const bucket = reservation.bucket;
      if (!reservation.granted || bucket === undefined) return;
      await oneAtATime.run(signal, (turn) =>
        run(turn, "give back restores of the last hour", async (abortSignal) => {
          for (let attempt = 1; attempt <= RESERVE_ATTEMPTS; attempt++) {
            const e = await get<{ buckets: string }>("restores", "window", abortSignal);
            const buckets = e ? parseStored(e.buckets, bucketsShape) : undefined;
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

    windowUse: (now: number, signal: AbortSignal): Promise<{ used: number; oldestLeavesAt?: number; problem?: string }> =>
      run(signal, "read the restores of the last hour", async (abortSignal) => {
        const e = await get<{ buckets: string }>("restores", "window", abortSignal);
        const parsed = e ? parseStored(e.buckets, bucketsShape) : {};
        if (parsed === undefined) return { used: 0, problem: UNREADABLE_COUNTER };
        const { live, used } = inWindow(parsed, now);
        // When the oldest counted user leaves the window: when one more would fit at the cap.
        const oldestLeavesAt = freesAt(live, 1);
        return { used, ...(oldestLeavesAt !== undefined ? { oldestLeavesAt } : {}) };
      }),
  };
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
