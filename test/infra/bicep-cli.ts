/**
 * The real Bicep CLI for the infra tests: where to find it, and running it.
 *
 * Looked for in this order: BICEP_PATH; `bicep` on the PATH; the Azure CLI's copy
 * (~/.azure/bin/bicep); the pinned NuGet package restored by `npm run bicep:restore`
 * (.ci/bicep/restore.csproj) in the NuGet packages folder.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

const ROOT = join(__dirname, "..", "..");
const RESTORE_PROJECT = join(ROOT, ".ci", "bicep", "restore.csproj");

/** The Bicep version .ci/bicep/restore.csproj pins. */
export function pinnedBicepVersion(): string {
  const m = /<BicepVersion>([^<]+)<\/BicepVersion>/.exec(readFileSync(RESTORE_PROJECT, "utf8"));
  if (!m?.[1]) throw new Error(`${RESTORE_PROJECT} pins no BicepVersion`);
  return m[1];
}

export const HOW_TO_GET_BICEP =
  "run `npm run bicep:restore` (needs the .NET SDK; restores the pinned Azure.Bicep.CommandLine package from NuGet), " +
  "install the Azure CLI's copy (`az bicep install`), or set BICEP_PATH";

export function findBicep(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const nuget = env.NUGET_PACKAGES ?? join(homedir(), ".nuget", "packages");
  const candidates = [
    env.BICEP_PATH,
    ...(env.PATH ?? "")
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, "bicep")),
    join(homedir(), ".azure", "bin", "bicep"),
    join(nuget, "azure.bicep.commandline.linux-x64", pinnedBicepVersion(), "tools", "bicep"),
  ];
  return candidates.find((c): c is string => c !== undefined && c !== "" && existsSync(c));
}

export interface BicepRun {
  status: number;
  stdout: string;
  stderr: string;
}

export function runBicep(bicep: string, args: string[], cwd: string): BicepRun {
  const r = spawnSync(bicep, args, {
    cwd,
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20,
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1" },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Diagnostics the compiler printed (`file(line,col) : Warning|Error CODE: message`). */
export function diagnostics(output: string): string[] {
  return output.split("\n").filter((l) => /: (Warning|Error) [A-Za-z0-9-]+:/.test(l));
}
