/**
 * The docs a newcomer follows: every relative link and anchor in README.md and docs/ resolves, and
 * docs/settings.md names every setting the app reads with the default and range the code has.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { NUMBERS, settingsSchema } from "../../src/config";
import { RELEASE } from "../../src/core/report";
import { GRAPH_CALLS, neededAccess } from "../../src/permissions";
import { PERSISTED_STATES } from "../../src/store";

const ROOT = join(__dirname, "..", "..");
const DOCS = [
  join(ROOT, "README.md"),
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(ROOT, "docs", f)),
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const text = markdown.replace(/```[\s\S]*?```/g, "");
  for (const m of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = (m[1] ?? "")
      .toLowerCase()
      .replace(/[`*_]/g, "")
      .replace(/[^\p{L}\p{N}\s-]/gu, "")
      .trim()
      .replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function linksOf(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
}

describe("docs", () => {
  const broken: string[] = [];
  for (const file of DOCS) {
    for (const link of linksOf(readFileSync(file, "utf8"))) {
      if (/^[a-z]+:/i.test(link)) continue; // external
      const [path, anchor] = link.split("#") as [string, string | undefined];
      const target = path === "" ? file : resolve(dirname(file), path);
      if (!existsSync(target)) {
        broken.push(`${relative(ROOT, file)}: ${link} (no such file)`);
        continue;
      }
      if (anchor && target.endsWith(".md") && !anchorsOf(readFileSync(target, "utf8")).has(anchor)) {
        broken.push(`${relative(ROOT, file)}: ${link} (no such heading)`);
      }
    }
  }

  it("every relative link and anchor in README.md and docs/ resolves", () => {
    expect(broken).toEqual([]);
    expect(DOCS.length).toBeGreaterThan(4);
  });

  it("the link check finds a broken link and a broken anchor", () => {
    expect(linksOf("see [a](docs/nope.md) and [b](#x) but not `[c](d)`")).toEqual(["docs/nope.md", "#x"]);
    expect([
      ...anchorsOf("# Try it (fresh machine, Node.js 20.19+ or 22)\n## What the app will never do\n## Outcomes\n## Outcomes"),
    ]).toEqual(["try-it-fresh-machine-nodejs-2019-or-22", "what-the-app-will-never-do", "outcomes", "outcomes-1"]);
  });

  it("docs/settings.md names every setting, and each whole-number setting with the code's default and range", () => {
    const settings = readFileSync(join(ROOT, "docs", "settings.md"), "utf8");
    for (const key of Object.keys(settingsSchema.shape)) expect(settings, key).toContain(`| \`${key}\` |`);
    for (const [key, [fallback, min, max]] of Object.entries(NUMBERS)) {
      expect(settings, key).toContain(`| \`${key}\` | ${fallback} | ${min}–${max} |`);
    }
  });
});

describe("docs/permissions.md", () => {
  it("lists every Graph call of src/graphPermissions.json with its permission, catalog role and page", () => {
    const page = readFileSync(join(ROOT, "docs", "permissions.md"), "utf8");
    const rows = Object.values(GRAPH_CALLS).map(
      (c) =>
        `| \`${c.request}\` | ${c.purpose} | \`${c.permission}\`${c.least ? ` (least: \`${c.least}\`)` : ""} | ${c.catalogRole ? `**${c.catalogRole}**` : "the same"} | [page](${c.doc}) |`,
    );
    for (const row of rows) expect(page).toContain(row);
    expect(page.split("\n").filter((l) => l.startsWith("| `")).length).toBe(rows.length);
  });

  it("README's permission table names each Graph permission and catalog role the deployment needs, and no other", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const graphRows = readme.split("\n").filter((l) => /^\| app \| (Microsoft Graph|chosen catalogs) \|/.test(l));
    const named = graphRows.map((l) => /^\s*(?:`([^`]+)`|\*\*([^*]+)\*\*)/.exec(l.split("|")[3] ?? "")).map((m) => m?.[1] ?? m?.[2]);
    const tenantWide = neededAccess({ catalogScoped: false, riskCheck: true });
    const scoped = neededAccess({ catalogScoped: true, riskCheck: true });
    expect(named.sort()).toEqual([...tenantWide.permissions, ...scoped.catalogRoles].sort());
  });
});

describe("docs/safety.md matches the code", () => {
  const safety = readFileSync(join(ROOT, "docs", "safety.md"), "utf8");

  it("the state diagram has exactly the states a record can be in (claimed is the record's 'new')", () => {
    const diagram = /```mermaid\n([\s\S]*?)```/.exec(safety)?.[1] ?? "";
    const states = new Set(
      [...diagram.matchAll(/^\s*(\S+)\s*-->\s*([^:\s]+)/gm)]
        .flatMap((m) => [m[1] as string, m[2] as string])
        .filter((s) => s !== "[*]")
        .map((s) => (s === "claimed" ? "new" : s.replace(/_/g, "-"))),
    );
    expect([...states].sort()).toEqual([...PERSISTED_STATES].sort());
  });

  it("the guards table names every guard the code has, each with how to release it", () => {
    const rows = [...safety.matchAll(/^\| `([a-z-]+)`(?: \(user\))? \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(Object.keys(RELEASE).sort());
  });
});
