/**
 * Azurite (the storage emulator, an npm dev dependency) on loopback, in memory, with an account
 * key made fresh on every start. By default only its Table service: the app's shared state
 * (hourly cap, per-incident progress) is kept in a real table service in tests, the demo and the
 * local fake tenant. With `{ all: true }` also Blob and Queue, which the Functions host needs for
 * AzureWebJobsStorage (timer triggers, keys).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface Azurite {
  /** STATE_TABLE_CONNECTION for the app. */
  connectionString: string;
  /** With `all`: a connection string naming the blob, queue and table endpoints (AzureWebJobsStorage). */
  storageConnectionString: string;
  stop(): Promise<void>;
}

const DIST = join(__dirname, "..", "..", "node_modules", "azurite", "dist", "src");

export async function startAzurite(options: { all?: boolean } = {}): Promise<Azurite> {
  const account = "fakestate";
  const key = randomBytes(32).toString("base64");
  const services = options.all ? (["table", "blob", "queue"] as const) : (["table"] as const);
  const ports: Record<string, number> = {};
  for (const s of services) ports[s] = await freePort();
  const flags = services.flatMap((s) => [`--${s}Host`, "127.0.0.1", `--${s}Port`, String(ports[s])]);
  const bin = options.all ? join(DIST, "azurite.js") : join(DIST, "table", "main.js");
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, "--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck", ...flags],
    { env: { PATH: process.env.PATH ?? "", AZURITE_ACCOUNTS: `${account}:${key}` }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  for (const port of Object.values(ports)) {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`Azurite exited (${child.exitCode}): ${stderr.slice(0, 500)}`);
      if (await accepts(port)) break;
      if (i >= 100) throw new Error("Azurite did not start within 10 s");
      await sleep(100);
    }
  }
  const endpoint = (s: string) => `http://127.0.0.1:${ports[s]}/${account}`;
  const base = `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};`;
  return {
    connectionString: `${base}TableEndpoint=${endpoint("table")};`,
    storageConnectionString: options.all
      ? `${base}BlobEndpoint=${endpoint("blob")};QueueEndpoint=${endpoint("queue")};TableEndpoint=${endpoint("table")};`
      : "",
    stop: () =>
      new Promise<void>((ok) => {
        if (child.exitCode !== null) return ok();
        child.once("exit", () => ok());
        child.kill();
      }),
  };
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => ok(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
  });
}
