/**
 * npm run simulate -- --runs N --seed S [--trace]
 *
 * Runs N world schedules from seed S (deterministic by seed) and ends with the line
 * `N schedules, M invariant violations`. A failing schedule prints its seed and its steps; rerun
 * it alone with `--runs 1 --seed <its seed> --trace`.
 */
import { parseArgs } from "node:util";
import { CHANGES, runSchedule, simulate } from "./simulate";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "200" }, seed: { type: "string", default: "1" }, trace: { type: "boolean", default: false } },
});
const runs = Number(values.runs);
const seed = Number(values.seed);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed)) {
  console.error("--runs must be a whole number of at least 1 and --seed a whole number");
  process.exit(2);
}

async function main(): Promise<number> {
  if (values.trace) {
    const one = await runSchedule(seed);
    console.log(one.trace.join("\n"));
  }
  const result = await simulate({
    runs,
    seed,
    onProgress: (done) => {
      if (done % 500 === 0 && done < runs) console.log(`… ${done} of ${runs} schedules`);
    },
  });
  for (const failed of result.failed.slice(0, 5)) {
    console.log(`\nseed ${failed.seed}: ${failed.violations.join("; ")}`);
    console.log(`  reproduce: npm run simulate -- --runs 1 --seed ${failed.seed} --trace`);
    console.log(failed.trace.map((line) => `  ${line}`).join("\n"));
  }
  const minutes = result.ms / 60_000;
  console.log(
    `\n${result.calls} calls and ${result.runs} runs in ${(result.ms / 1000).toFixed(1)} s: ${Math.round(result.schedules / minutes)} schedules per minute`,
  );
  console.log(
    `world changes drawn: ${(Object.keys(CHANGES) as (keyof typeof CHANGES)[]).map((c) => `${c} ${result.changes[c] ?? 0}`).join(", ")}`,
  );
  const violations = result.failed.reduce((n, f) => n + f.violations.length, 0);
  console.log(`${result.schedules} schedules, ${violations} invariant violations`);
  return violations > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
