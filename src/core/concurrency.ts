/** Runs at most `max` of the functions given to it at once; the others wait their turn, in order. */
export function createLimiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes straight to the next caller
      else active--;
    }
  };
}

/** Maps items through an async function with at most `limit` calls in flight, keeping order; every item is attempted. */
export function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const run = createLimiter(limit);
  return Promise.allSettled(items.map((item) => run(() => fn(item))));
}

/**
 * Settles with `work`, or rejects with `late()` once `ms` have passed. The work itself is not
 * stopped (each of its requests has its own timeout); its later failure is swallowed.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
