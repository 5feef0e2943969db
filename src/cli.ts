#!/usr/bin/env node
/**
 * Runs the app outside the Functions host:
 *
 *   access-package-remediation replay <incident.json> [--dry-run] [--json] [--settings <local.settings.json>]
 *   access-package-remediation sweep [--dry-run] [--include-dry-run] [--json] [--settings <local.settings.json>]
 *   access-package-remediation doctor [--webhook <url>] [--json] [--settings <local.settings.json>]
 *   access-package-remediation status [--json] [--settings <local.settings.json>]
 *
 * Settings come from the environment; --settings also reads the Values of a local.settings.json
 * (the environment wins).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildDeps } from "./clients";
import { loadConfig } from "./config";
import { renderChecks, runDoctor } from "./core/doctor";
import { remediateIncident } from "./core/remediate";
import { readStatus, renderStatus } from "./core/status";
import type { Outcome } from "./core/domain";
import { renderText } from "./core/report";
import { sweepOpenIncidents, SWEEP_DEADLINE_MS, SWEEP_DEFAULTS } from "./core/sweep";
import { deadline, WEBHOOK_DEADLINE_MS, type Logger } from "./deps";
import { AppError, DeadlineError, messageOf, printable, RequestError } from "./errors";
import { parseIncidentTriggerText } from "./incident";

const USAGE = `Usage: access-package-remediation replay <incident.json> [--dry-run] [--json] [--verbose] [--settings <file>]
       access-package-remediation sweep [--dry-run] [--include-dry-run] [--include-recent] [--json] [--verbose] [--settings <file>]
       access-package-remediation doctor [--webhook <url>] [--json] [--settings <file>]
       access-package-remediation status [--json] [--settings <file>]

  replay      Run the remediation for a Sentinel incident trigger body saved as JSON
  sweep       Run the sweeper once now (the incidents the timer would pick up), with the same settings
  doctor      Check a live deployment with the app's settings: one harmless call per dependency
              proving each permission, and the fix for each that fails
  status      What the app is doing now, from its state table: waiting, capped, failed, held,
              the hourly cap used and when it frees, the last sweep
  --webhook   doctor: the webhook's URL; an unauthenticated and a forged-header call must be refused
  --dry-run   Comment what would be done; reprocess nothing, close nothing
  --include-dry-run
              sweep, enforcing: also act on incidents an earlier dry run handled
  --include-recent
              sweep: also run incidents younger than 10 minutes (normally left to their webhook)
  --json      Print the JSON summary instead of the readable one
  --verbose   Also print each step and the decision records on stderr (warnings always show)
  --settings  Read settings from a local.settings.json (its Values); the environment wins

Exit codes (replay): 0 remediated and closed (or already closed); 1 failed, retry; 2 bad usage,
input or settings; 3 handled and left open (held by a safety check, waiting, dry run, nothing to do,
partly restored, closed by someone else, another run in progress).
Exit codes (sweep): 0 no incident failed; 1 some failed; 2 bad usage or settings.
Exit codes (doctor): 0 every check passed; 1 some failed; 2 bad usage or settings.
Exit codes (status): 0 read; 1 the state table could not be read; 2 bad usage or settings.`;

const EXIT: Record<Outcome, number> = {
  remediated: 0,
  "already-closed": 0,
  failed: 1,
  "dry-run": 3,
  held: 3,
  "no-account": 3,
  "nothing-to-reprocess": 3,
  "awaiting-delivery": 3,
  capped: 3,
  "delivery-not-seen": 3,
  "closed-by-other": 3,
  "in-progress": 3,
  "partly-restored": 3,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "dry-run": { type: "boolean", default: false },
        "include-dry-run": { type: "boolean", default: false },
        "include-recent": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        verbose: { type: "boolean", short: "v", default: false },
        settings: { type: "string" },
        webhook: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${messageOf(error)}\n\n${USAGE}\n`);
    return 2;
  }
  const [command, file, ...extra] = args.positionals;
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const valid =
    (command === "replay" && file && extra.length === 0) ||
    ((command === "sweep" || command === "doctor" || command === "status") && !file);
  if (!valid) {
    const why =
      command === undefined
        ? "No command given."
        : !["replay", "sweep", "doctor", "status"].includes(command)
          ? `Unknown command "${printable(command, 40)}".`
          : command === "replay"
            ? "replay takes one file: the incident trigger body (JSON)."
            : `${command} takes no file.`;
    process.stderr.write(`${why}\n\n${USAGE}\n`);
    return 2;
  }

  // Steps, outcomes and decision records with --verbose; warnings and errors always.
  const verbose = args.values.verbose === true;
  const detail = (m: string) => void (verbose && process.stderr.write(`  ${m}\n`));
  const log: Logger = {
    debug: detail,
    info: detail,
    warn: (m) => process.stderr.write(`  warning: ${m}\n`),
    error: (m) => process.stderr.write(`  error: ${m}\n`),
  };
  const print = (value: unknown, text: string) =>
    process.stdout.write(args.values.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
  try {
    const settings = args.values.settings ? readSettingsFile(args.values.settings) : {};
    const config = loadConfig({ ...settings, ...env });
    const dryRun = args.values["dry-run"] || config.dryRun;
    const deps = buildDeps(config);
    if (command === "status") {
      const run = deadline(WEBHOOK_DEADLINE_MS, () => new DeadlineError(WEBHOOK_DEADLINE_MS / 1000));
      try {
        const view = await readStatus(deps, run.signal);
        print(view, renderStatus(view));
        return 0;
      } finally {
        run.clear();
      }
    }
    if (command === "doctor") {
      const run = deadline(SWEEP_DEADLINE_MS, () => new DeadlineError(SWEEP_DEADLINE_MS / 1000));
      try {
        const checks = await runDoctor(deps, run.signal, args.values.webhook ? { webhook: args.values.webhook } : {});
        print(checks, renderChecks(checks));
        return checks.every((c) => c.ok) ? 0 : 1;
      } finally {
        run.clear();
      }
    }
    if (command === "sweep") {
      const run = deadline(SWEEP_DEADLINE_MS, () => new DeadlineError(SWEEP_DEADLINE_MS / 1000));
      try {
        const summary = await sweepOpenIncidents(deps, log, run.signal, {
          ...SWEEP_DEFAULTS,
          dryRun,
          includeDryRun: args.values["include-dry-run"],
          includeRecent: args.values["include-recent"],
        });
        const ran = Object.entries(summary.ran).map(([o, ids]) => `  ${o}: ${ids.join(", ")}`);
        const recent = summary.recent.length
          ? [
              `  left to their webhook (younger than ${SWEEP_DEFAULTS.graceMs / 60_000} minutes): ${summary.recent.length}; --include-recent runs them now`,
            ]
          : [];
        print(
          summary,
          [
            `Sweep: ${summary.listed} New incident(s) in the window, ${summary.ours} of the configured rules`,
            ...ran,
            ...recent,
            `  failed: ${summary.failed.length}, skipped: ${summary.skipped.length}, deferred: ${summary.deferred.length}`,
          ].join("\n"),
        );
        return summary.failed.length > 0 ? 1 : 0;
      } finally {
        run.clear();
      }
    }
    const text = readText(file as string, "the incident trigger body");
    const pointer = parseIncidentTriggerText(text);
    log.info(`replaying incident ${pointer.incidentId}${dryRun ? " (dry run)" : ""}`);
    const run = deadline(WEBHOOK_DEADLINE_MS, () => new DeadlineError(WEBHOOK_DEADLINE_MS / 1000));
    try {
      const summary = await remediateIncident(pointer, deps, log, run.signal, { dryRun });
      print(summary, renderText(summary));
      return EXIT[summary.outcome];
    } finally {
      run.clear();
    }
  } catch (error) {
    if (error instanceof AppError) {
      if (args.values.json) process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } }, null, 2)}\n`);
      process.stderr.write(`${error.code}: ${printable(error.message, 2000)}\n`);
      return error.status < 500 || error.name === "ConfigError" ? 2 : 1;
    }
    process.stderr.write(`Unexpected error: ${printable(messageOf(error), 2000)}\n`);
    return 1;
  }
}

/** A file's text, or an error that says which file, what it should hold, and why it could not be read. */
function readText(path: string, holds: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why =
      code === "ENOENT"
        ? "no such file"
        : code === "EACCES"
          ? "permission denied"
          : code === "EISDIR"
            ? "it is a folder"
            : messageOf(error);
    throw new RequestError("UnreadableFile", `Cannot read ${path} (${holds}): ${why}`);
  }
}

function readSettingsFile(path: string): Record<string, string> {
  const text = readText(path, "a local.settings.json");
  try {
    const json = JSON.parse(text) as { Values?: Record<string, unknown> };
    return Object.fromEntries(Object.entries(json.Values ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"));
  } catch (error) {
    throw new RequestError("InvalidJson", `Settings file ${path} is not valid JSON: ${messageOf(error)}`);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
