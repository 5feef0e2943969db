/**
 * Bicep checks without the Bicep CLI: syntax with the tree-sitter-bicep grammar, resource bodies
 * against the official Bicep type definitions in test/infra/bicep-types (unknown properties,
 * read-only properties set, string literals outside an enum). `#disable-next-line BCPxxx`
 * suppresses a finding the way the Bicep compiler would.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Language, Parser, type Node } from "web-tree-sitter";

/** The part of the official type definitions infra/ uses (npm run vendor:bicep-types). */
export const TYPES_DIR = join(__dirname, "bicep-types");

let parser: Parser | undefined;

export async function bicepParser(): Promise<Parser> {
  if (!parser) {
    await Parser.init();
    const language = await Language.load(require.resolve("tree-sitter-bicep/tree-sitter-bicep.wasm"));
    parser = new Parser();
    parser.setLanguage(language);
  }
  return parser;
}

export interface ParsedBicep {
  file: string;
  source: string;
  root: Node;
}

/** tree-sitter-bicep 1.1.0 predates the `extension` statement: blank it (keeping offsets) before parsing. */
export async function parseBicep(file: string, text = readFileSync(file, "utf8")): Promise<ParsedBicep> {
  const source = text.replace(/^extension\s+\S+.*$/gm, (m) => " ".repeat(m.length));
  const tree = (await bicepParser()).parse(source);
  if (!tree) throw new Error(`could not parse ${file}`);
  return { file, source: text, root: tree.rootNode };
}

export function syntaxErrors(p: ParsedBicep): string[] {
  const out: string[] = [];
  const walk = (n: Node) => {
    if (n.type === "ERROR" || n.isMissing)
      out.push(
        `${p.file}:${n.startPosition.row + 1}: ${n.isMissing ? "missing " : ""}${n.type} near ${JSON.stringify(n.text.slice(0, 60))}`,
      );
    for (const c of n.children) if (c) walk(c);
  };
  walk(p.root);
  return out;
}

// ───────────────────────────── type definitions ─────────────────────────────

type TypeEntry = Record<string, any>;
interface TypeRef {
  types: TypeEntry[];
  index: number;
}

/** Every file under `dir` (recursively) whose name passes `wanted`. */
export function filesUnder(dir: string, wanted: (name: string) => boolean): string[] {
  return readdirSync(dir).flatMap((f) => {
    const full = join(dir, f);
    return statSync(full).isDirectory() ? filesUnder(full, wanted) : wanted(f) ? [full] : [];
  });
}

let resourceTypes: Map<string, TypeRef> | undefined;

/** Every ResourceType in the type files, by "Namespace/type@version" (lower case). */
export function loadResourceTypes(): Map<string, TypeRef> {
  if (resourceTypes) return resourceTypes;
  resourceTypes = new Map();
  for (const file of filesUnder(TYPES_DIR, (name) => name === "types.json")) {
    const types = JSON.parse(readFileSync(file, "utf8")) as TypeEntry[];
    types.forEach((t) => {
      if (t.$type === "ResourceType") resourceTypes?.set(String(t.name).toLowerCase(), { types, index: refIndex(t.body) });
    });
  }
  return resourceTypes;
}

const refIndex = (ref: { $ref: string }) => Number(ref.$ref.split("/").pop());
const deref = (at: TypeRef, ref: { $ref: string }): TypeRef => ({ types: at.types, index: refIndex(ref) });
const entry = (r: TypeRef) => r.types[r.index] as TypeEntry;

// ───────────────────────────── resource walking ─────────────────────────────

export interface ResourceDecl {
  symbol: string;
  type: string;
  existing: boolean;
  body: Node | undefined;
  line: number;
}

export function resources(p: ParsedBicep): ResourceDecl[] {
  return p.root.children
    .filter((n): n is Node => n?.type === "resource_declaration")
    .map((n) => {
      const kids = n.children.filter((c): c is Node => c !== null);
      const typeNode = kids.find((c) => c.type === "string");
      let body: Node | undefined = kids[kids.length - 1];
      // `= if (...) {…}`, `= [for x in y: {…}]`, `= [for x in y: if (...) {…}]`
      for (let i = 0; i < 3 && body && body.type !== "object"; i++) {
        body = body.children
          .filter((c): c is Node => c !== null)
          .reverse()
          .find((c) => ["object", "if_statement", "for_statement"].includes(c.type));
      }
      return {
        symbol: kids.find((c) => c.type === "identifier")?.text ?? "",
        type: (typeNode?.text ?? "").replace(/^'|'$/g, ""),
        existing: kids.some((c) => c.type === "existing"),
        body: body?.type === "object" ? body : undefined,
        line: n.startPosition.row + 1,
      };
    });
}

const BICEP_KEYWORDS = new Set(["scope", "parent", "dependsOn"]);

export interface Finding {
  file: string;
  line: number;
  code: "BCP037" | "BCP073" | "BCP036" | "BCP081";
  message: string;
}

/** Checks the literal parts of every resource body; expressions are left to the deployment. */
export function checkResourceBodies(p: ParsedBicep): Finding[] {
  const known = loadResourceTypes();
  const findings: Finding[] = [];
  const lines = p.source.split("\n");
  const suppressed = (line: number, code: string) => {
    const previous = lines[line - 2] ?? "";
    return /#disable-next-line\b/.test(previous) && previous.includes(code);
  };
  const report = (node: Node, code: Finding["code"], message: string) => {
    const line = node.startPosition.row + 1;
    if (!suppressed(line, code)) findings.push({ file: p.file, line, code, message });
  };

  const propertiesOf = (t: TypeRef, obj: Node): { props: Record<string, any>; additional?: { $ref: string } } => {
    const e = entry(t);
    if (e.$type === "ObjectType") return { props: e.properties ?? {}, additional: e.additionalProperties };
    if (e.$type === "DiscriminatedObjectType") {
      const literal = objectProperties(obj).find((pp) => pp.key === e.discriminator)?.value;
      const chosen = literal && isPlainString(literal) ? e.elements[stringValue(literal)] : undefined;
      const elements = chosen ? [chosen] : Object.values(e.elements);
      const props: Record<string, any> = { ...e.baseProperties };
      for (const el of elements as { $ref: string }[]) Object.assign(props, entry(deref(t, el)).properties ?? {});
      return { props };
    }
    return { props: {} };
  };

  const checkValue = (value: Node, t: TypeRef, where: string) => {
    const e = entry(t);
    if (e.$type === "UnionType" || e.$type === "StringLiteralType") {
      if (!isPlainString(value)) return;
      const members = e.$type === "UnionType" ? (e.elements as { $ref: string }[]).map((m) => entry(deref(t, m))) : [e];
      if (members.some((m) => m.$type !== "StringLiteralType")) return;
      const allowed = members.map((m) => String(m.value));
      if (!allowed.includes(stringValue(value)))
        report(value, "BCP036", `${where}: '${stringValue(value)}' is not one of ${allowed.join(", ")}`);
    } else if ((e.$type === "ObjectType" || e.$type === "DiscriminatedObjectType") && value.type === "object") {
      checkObject(value, t, where);
    } else if (e.$type === "ArrayType" && value.type === "array") {
      for (const item of value.namedChildren) if (item) checkValue(item, deref(t, e.itemType), `${where}[]`);
    }
  };

  const checkObject = (obj: Node, t: TypeRef, where: string, top = false) => {
    const { props, additional } = propertiesOf(t, obj);
    for (const { key, keyNode, value } of objectProperties(obj)) {
      if (top && BICEP_KEYWORDS.has(key)) continue;
      const prop = props[key];
      if (!prop) {
        if (additional) {
          if (value) checkValue(value, deref(t, additional), `${where}.${key}`);
        } else {
          report(keyNode, "BCP037", `${where}: property "${key}" is not allowed (known: ${Object.keys(props).join(", ")})`);
        }
        continue;
      }
      if ((Number(prop.flags ?? 0) & 2) !== 0) report(keyNode, "BCP073", `${where}: property "${key}" is read-only`);
      if (value) checkValue(value, deref(t, prop.type), `${where}.${key}`);
    }
  };

  for (const r of resources(p)) {
    const t = known.get(r.type.toLowerCase());
    if (!t) {
      findings.push({ file: p.file, line: r.line, code: "BCP081", message: `resource type ${r.type} has no type definition` });
      continue;
    }
    if (r.body && !r.existing) checkObject(r.body, t, r.symbol, true);
  }
  return findings;
}

export function objectProperties(obj: Node): { key: string; keyNode: Node; value: Node | undefined }[] {
  return obj.namedChildren
    .filter((c): c is Node => c?.type === "object_property")
    .map((pp) => {
      const kids = pp.namedChildren.filter((c): c is Node => c !== null && c.type !== "comment");
      const keyNode = kids[0] as Node;
      return { key: keyNode.type === "string" ? stringValue(keyNode) : keyNode.text, keyNode, value: kids[kids.length - 1] };
    });
}

/** A string literal without interpolation. */
export const isPlainString = (n: Node) => n.type === "string" && !n.namedChildren.some((c) => c?.type === "interpolation");
export const stringValue = (n: Node) => n.text.replace(/^'|'$/g, "").replace(/\\'/g, "'");
