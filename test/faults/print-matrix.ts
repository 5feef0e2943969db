/** Prints the fault matrix written by test/faults/faults.test.ts; exits 1 if a row differs or none ran. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const file = join(__dirname, "..", "..", "test-results", "faults-matrix.json");
if (!existsSync(file)) {
  process.stderr.write("No fault matrix: the fault tests did not run.\n");
  process.exit(1);
}
const rows = JSON.parse(readFileSync(file, "utf8")) as { scenario: string; expected: string; observed: string }[];
const width = (k: "scenario" | "expected" | "observed") => Math.max(k.length, ...rows.map((r) => r[k].length));
const [ws, we] = [width("scenario"), width("expected")];
const line = (a: string, b: string, c: string, mark: string) => `${mark} ${a.padEnd(ws)} | ${b.padEnd(we)} | ${c}`;
const out = [line("scenario", "expected", "observed", " "), `  ${"-".repeat(ws)}-+-${"-".repeat(we)}-+-${"-".repeat(width("observed"))}`];
let differing = 0;
for (const r of rows) {
  const same = r.expected === r.observed;
  if (!same) differing++;
  out.push(line(r.scenario, r.expected, r.observed, same ? "✓" : "✗"));
}
out.push("", `${rows.length} scenarios, ${rows.length - differing} as expected, ${differing} not.`);
process.stdout.write(`${out.join("\n")}\n`);
process.exit(differing === 0 && rows.length > 0 ? 0 : 1);
