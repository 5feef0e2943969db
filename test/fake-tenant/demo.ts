/**
 * npm run demo: starts the fake tenant with the demo scenario, replays the sample incident
 * through the built CLI (a separate process, as a user would run it), shows what changed,
 * replays it once more to show a repeated delivery is a no-op, and stops the fake tenant.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAzurite } from "./azurite";
import { DEFAULT_CERT_DIR } from "./cert";
import { loadScenario } from "./scenario";
import { FakeTenant } from "./server";

const ROOT = join(__dirname, "..", "..");
const SCENARIO = join(ROOT, "test", "fixtures", "scenarios", "demo.json");
const INCIDENT = join(ROOT, "test", "fixtures", "incident-trigger.json");

async function main(): Promise<number> {
  const scenario = loadScenario(SCENARIO);
  const fake = await FakeTenant.start({ scenario });
  const azurite = await startAzurite();
  try {
    const incident = scenario.incidents[0];
    const group = scenario.groups[0];
    const user = scenario.users[0];
    if (!incident || !group || !user) throw new Error("demo scenario needs an incident, a group and a user");
    const inGroup = () => (fake.members.get(group.id)?.has(user.id) ? "a member" : "NOT a member");

    say(`Fake tenant up: login ${fake.urls.login}, Graph ${fake.urls.graph}, ARM ${fake.urls.arm}`);
    say(`Incident #${incident.number} "${incident.title}": ${user.displayName} was removed from ${group.displayName}.`);
    say(
      `Before: ${user.displayName} is ${inGroup()} of ${group.displayName}; incident status ${fake.incidents.get(incident.name)?.status}.`,
    );

    // Only the fake's settings, so that AZURE_* variables of the shell cannot point the demo elsewhere.
    const env = {
      PATH: process.env.PATH ?? "",
      ...fake.settings(),
      SENTINEL_RULE_IDS: incident.ruleIds.join(","),
      STATE_TABLE_CONNECTION: azurite.connectionString,
    };
    // Asynchronous: the fake tenant answers from this same process while the CLI runs.
    const run = async (label: string, file = INCIDENT): Promise<number> => {
      say(
        `$ node dist/cli.js replay ${file === INCIDENT ? "test/fixtures/incident-trigger.json" : ".fake-tenant/incident-held.json"}   (${label})`,
      );
      const child = spawn(process.execPath, [join(ROOT, "dist", "cli.js"), "replay", file], { env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const status = await new Promise<number>((ok) => child.on("close", (c) => ok(c ?? 1)));
      process.stdout.write(indent(err) + indent(out));
      say(`exit code ${status}`);
      return status;
    };

    const code = await run("first delivery");
    const after = fake.incidents.get(incident.name);
    say(
      `After: ${user.displayName} is ${inGroup()} of ${group.displayName}; incident status ${after?.status} (${after?.classification ?? "unclassified"}), ${after?.comments.size} comment(s).`,
    );
    const calls = fake.requests.filter((r) => r.service !== "login");
    const count = (service: string) => calls.filter((r) => r.service === service).length;
    say(
      `The app made ${calls.length} calls: ${count("graph")} to Graph, ${count("arm")} to Sentinel (add --verbose to the command to see each step).`,
    );

    const replayCode = await run("repeated delivery");
    say(
      `Replay left ${after?.comments.size} comment(s) and ${[...fake.reprocessed.values()].reduce((a, b) => a + b, 0)} reprocess call(s) in total.`,
    );

    // A second incident: Grady Archie, whom Identity Protection marks at risk. The app holds him.
    const held = scenario.incidents[1];
    let heldCode = 3;
    if (held) {
      const file = join(DEFAULT_CERT_DIR, "incident-held.json");
      writeFileSync(file, JSON.stringify(fake.triggerBody(held.name)));
      say(`Incident #${held.number}: the same removal for a user Identity Protection marks at risk.`);
      heldCode = await run("a user the SOC may be containing", file);
      say(
        `After: incident #${held.number} is ${fake.incidents.get(held.name)?.status}; reprocess calls in total: ${[...fake.reprocessed.values()].reduce((a, b) => a + b, 0)} (none for the held user).`,
      );
    }
    // What an analyst reads in Sentinel: the app's latest comment on each incident.
    for (const i of scenario.incidents) {
      const comments = [...(fake.incidents.get(i.name)?.comments.values() ?? [])];
      const latest = comments.at(-1);
      if (latest) say(`The comment an analyst sees on incident #${i.number}:\n${indent(commentText(latest.message))}`);
    }
    say(
      "Try next: npm run fake-tenant keeps the fake tenant running (settings in .fake-tenant/local.settings.json); then " +
        "NODE_EXTRA_CA_CERTS=.fake-tenant/cert.pem node dist/cli.js doctor --settings .fake-tenant/local.settings.json " +
        "(or replay <incident.json>, status), or npm run host for the real Functions host.",
    );
    return code === 0 && replayCode === 0 && heldCode === 3 ? 0 : 1;
  } finally {
    await Promise.all([fake.close(), azurite.stop()]);
  }
}

const say = (line: string) => process.stdout.write(`\n▶ ${line}\n`);

/** A comment's HTML as the plain text a person reads: paragraphs and list items on lines of their own. */
function commentText(html: string): string {
  return html
    .replace(/<\/p>|<\/li>/g, "\n")
    .replace(/<li>/g, "  - ")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .trim();
}
const indent = (text: string) => (text ? text.replace(/^/gm, "    ").replace(/ +$/, "") : "");

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
