import * as z from "zod/mini";
import type { Pair } from "../core/domain";
import { parseStored, type Table } from "./table";

export const pairKey = (p: Pair) => `${p.userId}_${p.kind}_${p.targetId}`;

const WRITE_ATTEMPTS = 5;
const DAY = 24 * 60 * 60_000;
/** Restores kept per pair: more than any sensible REPEAT_RESTORE_LIMIT. */
const PAIR_HISTORY = 50;
const timesShape = z.array(z.number());

/** When each (user, group or application) pair was restored in the last day: the repeat guard's memory. */
export function restoreHistory({ run, get, put }: Table) {
  return {
    async restoresOf(pairs: Pair[], since: number, signal: AbortSignal): Promise<Map<string, number | "unreadable">> {
      const counts = await Promise.all(
        pairs.map((p) =>
          run(signal, `read how often ${pairKey(p)} was restored`, async (abortSignal) => {
            const e = await get<{ times: string }>("pair", pairKey(p), abortSignal);
            // A history nobody can read is not "never restored": the repeat guard holds on it.
            const times = e ? parseStored(e.times, timesShape) : [];
            return [pairKey(p), times === undefined ? ("unreadable" as const) : times.filter((t) => t >= since).length] as const;
          }),
        ),
      );
      return new Map(counts);
    },

    async noteRestores(pairs: Pair[], now: number, signal: AbortSignal): Promise<void> {
      await Promise.all(
        pairs.map((p) =>
          run(signal, `note a restore of ${pairKey(p)}`, async (abortSignal) => {
            for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
              const e = await get<{ times: string }>("pair", pairKey(p), abortSignal);
              const times = [...((e ? parseStored(e.times, timesShape) : []) ?? []).filter((t) => t > now - DAY), now].slice(-PAIR_HISTORY);
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
