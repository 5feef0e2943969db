/**
 * npm run fake-tenant -- [--scenario <file>] [--latency <ms>] [--port <base>]
 *
 * Starts the fake tenant on 127.0.0.1 (login on <base>, Graph on <base>+1, ARM on <base>+2),
 * prints the settings for local.settings.json, writes a trigger body per incident under
 * .fake-tenant/, and runs until Ctrl-C.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { startAzurite } from "./azurite";
import { DEFAULT_CERT_DIR } from "./cert";
import { loadScenario } from "./scenario";
import { FakeTenant } from "./server";

const DEMO_SCENARIO = join(__dirname, "..", "fixtures", "scenarios", "demo.json");

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: "string", default: DEMO_SCENARIO },
      latency: { type: "string" },
      port: { type: "string", default: "7401" },
      // One JSON line with the settings and the control URL, for tools that start the fake.
      machine: { type: "boolean", default: false },
    },
  });
  const scenario = loadScenario(values.scenario);
  if (values.latency !== undefined) scenario.latencyMs = Number(values.latency);
  const base = Number(values.port);
  const ports = base === 0 ? {} : { login: base, graph: base + 1, arm: base + 2 };
  const fake = await FakeTenant.start({ scenario, ports });
  if (values.machine) {
    process.stdout.write(`FAKE_TENANT_READY ${JSON.stringify({ settings: fake.settings(), control: `${fake.urls.login}/_fake` })}\n`);
    process.on("SIGTERM", () => void fake.close().then(() => process.exit(0)));
    return;
  }

  // The app's state table (Azurite, in memory) and the scenario's removal rule(s).
  const azurite = await startAzurite();
  const ruleIds = [...new Set(scenario.incidents.flatMap((i) => i.ruleIds))].join(",");
  mkdirSync(DEFAULT_CERT_DIR, { recursive: true });
  const triggers = scenario.incidents.map((i) => {
    const file = join(DEFAULT_CERT_DIR, `incident-${i.number}.json`);
    writeFileSync(file, JSON.stringify(fake.triggerBody(i.name), null, 2));
    return relative(process.cwd(), file);
  });
  const settings = {
    IsEncrypted: false,
    Values: {
      FUNCTIONS_WORKER_RUNTIME: "node",
      AzureWebJobsStorage: "UseDevelopmentStorage=true",
      ...fake.settings(),
      SENTINEL_RULE_IDS: ruleIds,
      STATE_TABLE_CONNECTION: azurite.connectionString,
    },
  };
  writeFileSync(join(DEFAULT_CERT_DIR, "local.settings.json"), JSON.stringify(settings, null, 2));

  const cert = relative(process.cwd(), fake.tls.certPath);
  process.stdout.write(
    [
      `Fake tenant running (scenario ${relative(process.cwd(), values.scenario)}, latency ${fake.latencyMs} ms)`,
      `  login  ${fake.urls.login}`,
      `  graph  ${fake.urls.graph}`,
      `  arm    ${fake.urls.arm}`,
      "",
      "local.settings.json (also written to .fake-tenant/local.settings.json; the client secret is new on every start):",
      JSON.stringify(settings, null, 2),
      "",
      `Start the app with the fake's certificate trusted (Node reads it only at process start):`,
      `  cp .fake-tenant/local.settings.json . && NODE_EXTRA_CA_CERTS=${cert} npm start`,
      "Then post an incident (replace <key> when the host asks for a function key):",
      ...triggers.map((f) => `  curl -s -H 'content-type: application/json' --data @${f} http://localhost:7071/api/remediateIncident`),
      "Or without the Functions host:",
      ...triggers.map((f) => `  NODE_EXTRA_CA_CERTS=${cert} node dist/cli.js replay ${f} --settings .fake-tenant/local.settings.json`),
      "",
      "Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
  process.on("SIGINT", () => {
    process.stdout.write(`\n${fake.requests.length} request(s) served. Stopping.\n`);
    void Promise.all([fake.close(), azurite.stop()]).then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
