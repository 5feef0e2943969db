#!/usr/bin/env node
/**
 * Runs the remediation pipeline outside the Functions host:
 *
 *   access-package-remediation replay <incident.json> [--dry-run] [--json] [--settings <local.settings.json>]
 *
 * Settings come from the environment; --settings also reads the Values of a local.settings.json
 * (the environment wins). Exit codes: 0 remediated and closed (or already closed);
 * 1 failed (retry); 2 bad usage, input or settings; 3 handled but left open (dry run, no account,
 * nothing to reprocess).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildDeps } from "./clients";
import { loadConfig } from "./config";
import { remediateIncident, type Logger } from "./core/remediate";
import { renderText, type Outcome } from "./core/report";
import { AppError, messageOf, RequestError } from "./errors";
import { parseIncidentTriggerText } from "./incident";

const USAGE = `Usage: access-package-remediation replay <incident.json> [--dry-run] [--json] [--settings <file>]

  replay      Run the remediation for a Sentinel incident trigger body saved as JSON
  --dry-run   Comment what would be done; reprocess nothing, close nothing
  --json      Print the JSON summary instead of the readable one
  --settings  Read settings from a local.settings.json (its Values); the environment wins

Exit codes: 0 remediated and closed, 1 failed, 2 bad usage/input/settings, 3 left open.`;

const EXIT: Record<Outcome, number> = {
  remediated: 0,
  "already-closed": 0,
  failed: 1,
  "dry-run": 3,
  "no-account": 3,
  "nothing-to-reprocess": 3,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "dry-run": { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        settings: { type: "string" },
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
  if (command !== "replay" || !file || extra.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }

  const log: Logger = {
    info: (m) => process.stderr.write(`  ${m}\n`),
    warn: (m) => process.stderr.write(`  warning: ${m}\n`),
    error: (m) => process.stderr.write(`  error: ${m}\n`),
  };
  try {
    const settings = args.values.settings ? readSettingsFile(args.values.settings) : {};
    const config = loadConfig({ ...settings, ...env });
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new RequestError("InvalidJson", `Cannot read ${file}: ${messageOf(error)}`);
    }
    const pointer = parseIncidentTriggerText(text);
    const dryRun = args.values["dry-run"] || config.dryRun;
    log.info(`replaying incident ${pointer.incidentId}${dryRun ? " (dry run)" : ""}`);
    const summary = await remediateIncident(pointer, buildDeps(config), log, { dryRun });
    process.stdout.write(args.values.json ? `${JSON.stringify(summary, null, 2)}\n` : `${renderText(summary)}\n`);
    return EXIT[summary.outcome];
  } catch (error) {
    if (error instanceof AppError) {
      if (args.values.json) process.stdout.write(`${JSON.stringify({ error: { code: error.code, message: error.message } }, null, 2)}\n`);
      process.stderr.write(`${error.code}: ${error.message}\n`);
      return error.status < 500 || error.name === "ConfigError" ? 2 : 1;
    }
    process.stderr.write(`Unexpected error: ${messageOf(error)}\n`);
    return 1;
  }
}

function readSettingsFile(path: string): Record<string, string> {
  try {
    const json = JSON.parse(readFileSync(path, "utf8")) as { Values?: Record<string, unknown> };
    return Object.fromEntries(
      Object.entries(json.Values ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
  } catch (error) {
    throw new RequestError("InvalidJson", `Cannot read settings file ${path}: ${messageOf(error)}`);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
