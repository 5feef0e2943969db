/**
 * The real Azure Functions host (../shared/fnhost, built from Microsoft's sources) on the staged
 * deployment package, as azd ships it: tests and `npm run host` start it here, on loopback, with
 * settings written to the app folder's local.settings.json (as Core Tools reads them).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./azurite";

const ROOT = resolve(__dirname, "..", "..");
/** Where the host lives: FNHOST_DIR, or the shared folder beside the project. */
export const FNHOST_DIR = resolve(process.env.FNHOST_DIR ?? join(ROOT, "..", "shared", "fnhost"));
export const MASTER_KEY = "local-master-key";

/** Why the host cannot run here, or undefined when it can. */
export function hostMissing(): string | undefined {
  if (!existsSync(join(FNHOST_DIR, "run.sh"))) return `the Functions host is not at ${FNHOST_DIR} (set FNHOST_DIR)`;
  if (spawnSync("dotnet", ["--list-runtimes"], { stdio: "ignore" }).error) return "the .NET runtime (dotnet) is not on the PATH";
  return undefined;
}

/** Stages the package (infra/scripts/stage-package.sh) and copies it to a fresh folder. */
export function stagePackage(): string {
  const staged = spawnSync("bash", [join(ROOT, "infra", "scripts", "stage-package.sh")], { cwd: ROOT, encoding: "utf8" });
  if (staged.status !== 0) throw new Error(`stage-package.sh failed: ${staged.stderr || staged.stdout}`);
  const dir = mkdtempSync(join(tmpdir(), "apr-app-"));
  cpSync(join(ROOT, "deploy"), dir, { recursive: true });
  return dir;
}

export interface RunningHost {
  url: string;
  pid: number;
  /** Everything the host and the worker printed so far. */
  log(): string;
  /** Stops the host by its process id (the worker exits with it) and removes its files. */
  stop(): Promise<void>;
}

/**
 * Starts the host on `appDir` with `settings` as local.settings.json Values and waits until
 * /admin/host/status says Running. `env` goes to the host process (and so to the Node worker):
 * NODE_EXTRA_CA_CERTS belongs there, since Node reads it only at process start.
 */
export async function startHost(options: {
  appDir: string;
  settings: Record<string, string>;
  env?: Record<string, string>;
  /** How long to wait for Running (default 60 s: 3-7 s on 2 cores, more on a loaded machine). */
  readyMs?: number;
  port?: number;
  /** Resolve once the host has started even when it never reaches Running (a start-up failure). */
  allowError?: boolean;
}): Promise<RunningHost> {
  const port = options.port ?? (await freePort());
  const state = mkdtempSync(join(tmpdir(), "apr-host-"));
  writeFileSync(join(options.appDir, "local.settings.json"), JSON.stringify({ IsEncrypted: false, Values: options.settings }, null, 2));
  const child: ChildProcess = spawn("bash", [join(FNHOST_DIR, "run.sh"), options.appDir, String(port)], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? state, FN_STATE_DIR: state, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  const host: RunningHost = {
    url,
    pid: child.pid ?? 0,
    log: () => output,
    stop: async () => {
      // The whole process group: run.sh execs dotnet, which starts the Node worker.
      if (child.exitCode === null && child.pid) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          /* already gone */
        }
        await Promise.race([exited, sleep(10_000)]);
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      rmSync(state, { recursive: true, force: true });
    },
  };
  const until = Date.now() + (options.readyMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) {
      if (options.allowError) return host;
      throw new Error(`the Functions host exited (${child.exitCode}):\n${output.slice(-3000)}`);
    }
    const status = await hostState(url);
    if (status === "Running" || (options.allowError && status === "Error")) return host;
    if (Date.now() > until) {
      if (options.allowError) return host;
      await host.stop();
      throw new Error(
        `the Functions host did not reach Running within ${options.readyMs ?? 60_000} ms (last: ${status}):\n${output.slice(-3000)}`,
      );
    }
    await sleep(250);
  }
}

/** The host's state from its admin API, or "down" when nothing answers yet. */
export async function hostState(url: string): Promise<string> {
  try {
    const response = await fetch(`${url}/admin/host/status`, { headers: { "x-functions-key": MASTER_KEY } });
    if (!response.ok) return `HTTP ${response.status}`;
    return ((await response.json()) as { state?: string }).state ?? "unknown";
  } catch {
    return "down";
  }
}
