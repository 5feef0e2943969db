/**
 * npm run host -- [--scenario <file>] [--port <port>] [--enforce]
 *
 * For anyone with the real Functions host (../shared/fnhost, or FNHOST_DIR) but not Core Tools:
 * stages the deployment package as azd ships it, starts the fake tenant and Azurite, and runs the
 * host on the package with the fake tenant's settings on 127.0.0.1:<port> (7071), until Ctrl-C.
 */
import { writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { startAzurite } from "./azurite";
import { DEFAULT_CERT_DIR } from "./cert";
import { hostMissing, MASTER_KEY, stagePackage, startHost } from "./host";
import { loadScenario } from "./scenario";
import { FakeTenant } from "./server";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenario: { type: "string", default: join(__dirname, "..", "fixtures", "scenarios", "demo.json") },
      port: { type: "string", default: "7071" },
      enforce: { type: "boolean", default: false },
    },
  });
  const missing = hostMissing();
  if (missing) throw new Error(`npm run host needs the real Functions host: ${missing}. With Core Tools, use npm start instead.`);
  const scenario = loadScenario(values.scenario);
  const fake = await FakeTenant.start({ scenario });
  const azurite = await startAzurite({ all: true });
  const appDir = stagePackage();
  const host = await startHost({
    appDir,
    port: Number(values.port),
    env: { NODE_EXTRA_CA_CERTS: fake.tls.certPath },
    settings: {
      ...fake.settings(),
      AzureWebJobsStorage: azurite.storageConnectionString,
      SENTINEL_RULE_IDS: [...new Set(scenario.incidents.flatMap((i) => i.ruleIds))].join(","),
      STATE_TABLE_CONNECTION: azurite.connectionString,
      REMEDIATION_MODE: values.enforce ? "enforce" : "dry-run",
    },
  });
  const triggers = scenario.incidents.map((i) => {
    const file = join(DEFAULT_CERT_DIR, `incident-${i.number}.json`);
    writeFileSync(file, JSON.stringify(fake.triggerBody(i.name), null, 2));
    return relative(process.cwd(), file);
  });
  process.stdout.write(
    [
      `Functions host running on ${host.url} (process ${host.pid}), package ${appDir}, ${values.enforce ? "enforce" : "dry-run"} mode`,
      `Fake tenant: login ${fake.urls.login}, Graph ${fake.urls.graph}, ARM ${fake.urls.arm}`,
      "Post an incident as the playbook would (the master key works as a function key here):",
      ...triggers.map(
        (f) =>
          `  curl -s -H 'content-type: application/json' -H 'x-functions-key: ${MASTER_KEY}' --data @${f} ${host.url}/api/remediateIncident`,
      ),
      "Fire the sweeper now:",
      `  curl -s -X POST -H 'content-type: application/json' -H 'x-functions-key: ${MASTER_KEY}' --data '{"input":""}' ${host.url}/admin/functions/sweepIncidents`,
      "Ctrl-C to stop.",
      "",
    ].join("\n"),
  );
  let shown = host.log().length;
  const tail = setInterval(() => {
    const log = host.log();
    process.stdout.write(log.slice(shown));
    shown = log.length;
  }, 500);
  const stop = () => {
    clearInterval(tail);
    void Promise.all([host.stop(), azurite.stop(), fake.close()]).then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
