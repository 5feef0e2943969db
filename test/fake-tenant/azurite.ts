/**
 * Azurite's Table service (the storage emulator, an npm dev dependency) on loopback, in memory,
 * with an account key made fresh on every start: the app's shared state (hourly cap, per-incident
 * progress) is kept in a real table service in tests, the demo and the local fake tenant.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export interface Azurite {
  /** STATE_TABLE_CONNECTION for the app. */
  connectionString: string;
  stop(): Promise<void>;
}

const BIN = join(__dirname, "..", "..", "node_modules", "azurite", "dist", "src", "table", "main.js");

export async function startAzurite(): Promise<Azurite> {
  const port = await freePort();
  const account = "fakestate";
  const key = randomBytes(32).toString("base64");
  const child: ChildProcess = spawn(
    process.execPath,
    [
      BIN,
      "--inMemoryPersistence",
      "--silent",
      "--disableTelemetry",
      "--skipApiVersionCheck",
      "--tableHost",
      "127.0.0.1",
      "--tablePort",
      String(port),
    ],
    { env: { PATH: process.env.PATH ?? "", AZURITE_ACCOUNTS: `${account}:${key}` }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`Azurite exited (${child.exitCode}): ${stderr.slice(0, 500)}`);
    if (await accepts(port)) break;
    if (i >= 100) throw new Error("Azurite did not start within 10 s");
    await sleep(100);
  }
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};TableEndpoint=http://127.0.0.1:${port}/${account};`,
    stop: () =>
      new Promise<void>((ok) => {
        if (child.exitCode !== null) return ok();
        child.once("exit", () => ok());
        child.kill();
      }),
  };
}

function freePort(): Promise<number> {
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
