/**
 * The Sentinel content under infra/content/: every query analyzed by Microsoft's Kusto language
 * service, the Azure-Sentinel content rules (fields per kind, lengths, entity mapping limits),
 * the published seeds as published, and the sample records with the decision each must get.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { analyzeKql, CONTENT, deployedQuery, loadContent, systemActors, TABLES, type ContentItem } from "./content";
import { auditLogsColumns, SAMPLES, sampleFiles, samplesKql, type SampleFile } from "./sample-kql";

const rules = loadContent("rules");
const hunting = loadContent("hunting");
const all: ContentItem[] = [...rules, ...hunting];
const byFile = (f: string) => {
  const item = all.find((i) => i.file === f);
  if (!item) throw new Error(`${f} not found`);
  return item;
};

/** Deployment-time tokens are replaced before Sentinel sees the query. */
const deployed = (q: string) => deployedQuery(q, "00000000-0000-0000-0000-000000000000");

/** The published Azure-Sentinel content the project ships unchanged (../shared/seeds, README). */
const SEEDS: Record<string, { id: string; version?: string; severity?: string; tactics: string[]; techniques: string[] }> = {
  "rules/changes-to-pim-settings.yaml": {
    id: "0ed0fe7c-af29-4990-af7f-bb5ccb231198",
    version: "1.1.1",
    severity: "High",
    tactics: ["PrivilegeEscalation"],
    techniques: ["T1078.004"],
  },
  "hunting/approved-access-packages-details.yaml": {
    id: "aff7eb5f-3359-48ab-b73b-6c466d3806dc",
    tactics: ["DefenseEvasion", "Persistence"],
    techniques: ["T1556"],
  },
  "hunting/temporary-access-pass-created.yaml": {
    id: "a9d39b89-25ed-4233-a825-9640ec77d83d",
    version: "1.0.0",
    tactics: ["Persistence", "CredentialAccess"],
    techniques: ["T1556.006", "T1098"],
  },
  "hunting/guest-account-privileged-operation.yaml": {
    id: "bb135137-8f33-45b0-8d0f-78437f79d558",
    version: "1.0.0",
    tactics: ["Persistence", "PrivilegeEscalation"],
    techniques: ["T1098.001", "T1098.003", "T1078.004"],
  },
};
const ours = all.filter((i) => !(i.file in SEEDS));

// Azure-Sentinel's content rules (its detection and hunting query validations and style guide).
const TACTICS = [
  "Reconnaissance",
  "ResourceDevelopment",
  "InitialAccess",
  "Execution",
  "Persistence",
  "PrivilegeEscalation",
  "DefenseEvasion",
  "CredentialAccess",
  "Discovery",
  "LateralMovement",
  "Collection",
  "CommandAndControl",
  "Exfiltration",
  "Impact",
  "ImpairProcessControl",
  "InhibitResponseFunction",
  "PreAttack",
];
const IDENTIFIERS: Record<string, string[]> = {
  Account: [
    "Name",
    "FullName",
    "NTDomain",
    "DnsDomain",
    "UPNSuffix",
    "Sid",
    "AadTenantId",
    "AadUserId",
    "PUID",
    "IsDomainJoined",
    "DisplayName",
    "ObjectGuid",
  ],
  IP: ["Address"],
  SecurityGroup: ["DistinguishedName", "SID", "ObjectGuid"],
  CloudApplication: ["AppId", "Name", "InstanceName"],
};
/** A Scheduled rule's schedule: required there, forbidden on an NRT rule. */
const SCHEDULE = ["queryFrequency", "queryPeriod", "triggerOperator", "triggerThreshold"];
/** Fields every analytics rule has. */
const RULE_FIELDS = [
  "id",
  "name",
  "description",
  "severity",
  "requiredDataConnectors",
  "tactics",
  "relevantTechniques",
  "query",
  "entityMappings",
  "version",
  "kind",
];
const REQUIRED: Record<string, string[]> = {
  Scheduled: [...RULE_FIELDS, ...SCHEDULE],
  NRT: RULE_FIELDS,
  hunting: ["id", "name", "description", "requiredDataConnectors", "tactics", "relevantTechniques", "query"],
};
const days = (d: string) => Number(d.slice(0, -1)) * ({ m: 1 / 1440, h: 1 / 24, d: 1 }[d.slice(-1)] ?? NaN);
const params = (format: string) => [...format.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1] as string);

/** The Scheduled variant's one extra line: the window of ingestion time it evaluates. */
const SCHEDULED_WINDOW = "| where ingestion_time() >= bin(now() - 2m, 5m) - 5m and ingestion_time() < bin(now() - 2m, 5m)";

describe("rules and hunting queries as code", () => {
  it("ships the NRT and Scheduled detection, the owner rule, the PIM rule and seven hunting queries", () => {
    expect(rules.map((r) => `${r.kind}: ${r.name}`).sort()).toEqual([
      "NRT: User removed as owner of a group by hand",
      "NRT: User removed from group or app role by hand",
      "Scheduled: Changes to PIM Settings",
      "Scheduled: User removed from group or app role (scheduled)",
    ]);
    expect(hunting).toHaveLength(7);
    expect(new Set(all.map((i) => i.id)).size).toBe(all.length);
  });

  for (const item of all) {
    describe(item.file, () => {
      const analysis = analyzeKql(deployed(item.query));
      const kind = item.file.startsWith("hunting/") ? "hunting" : (item.kind ?? "");
      const raw = item as unknown as Record<string, unknown>;

      it("as written in the file, deployment tokens left in, parses and analyzes with zero errors (a template imported by hand)", () => {
        expect(analyzeKql(item.query).errors).toEqual([]);
        // Every token sits inside a string literal, where the deployment replaces it.
        for (const token of item.query.match(/__[A-Z_]+__/g) ?? []) expect(item.query).toMatch(new RegExp(`"${token}"`));
      });

      it("parses and analyzes with zero errors against the AuditLogs/SigninLogs schemas", () => {
        expect(analysis.errors).toEqual([]);
        expect(analysis.columns.size).toBeGreaterThan(0);
      });

      it("maps entities, custom details and alert details only to columns of the query's result", () => {
        const named = [
          ...(item.entityMappings ?? []).flatMap((m) => m.fieldMappings.map((f) => f.columnName)),
          ...Object.values(item.customDetails ?? {}),
          ...params(item.alertDetailsOverride?.alertDisplayNameFormat ?? ""),
          ...params(item.alertDetailsOverride?.alertDescriptionFormat ?? ""),
        ];
        for (const column of named) expect([...analysis.columns.keys()]).toContain(column);
      });

      it("has the fields its kind requires, and none its kind forbids", () => {
        expect(Object.keys(REQUIRED)).toContain(kind);
        for (const field of REQUIRED[kind] ?? []) expect(raw[field], field).toBeDefined();
        if (kind === "NRT") for (const field of SCHEDULE) expect(raw[field], field).toBeUndefined();
        expect(item.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        if (item.version !== undefined) expect(item.version).toMatch(/^\d+\.\d+\.\d+$/);
        for (const c of item.requiredDataConnectors) for (const t of c.dataTypes) expect(Object.keys(TABLES)).toContain(t);
      });

      it("keeps within the content limits: tactics, techniques, entity mappings, custom details, alert details", () => {
        expect(item.tactics.length).toBeGreaterThan(0);
        for (const t of item.tactics) expect(TACTICS).toContain(t);
        for (const t of item.relevantTechniques) expect(t).toMatch(/^T\d{4}(\.\d{3})?$/);
        const mappings = item.entityMappings ?? [];
        expect(mappings.length).toBeLessThanOrEqual(10);
        for (const m of mappings) {
          expect(Object.keys(IDENTIFIERS)).toContain(m.entityType);
          expect(m.fieldMappings.length).toBeGreaterThan(0);
          expect(m.fieldMappings.length).toBeLessThanOrEqual(3);
          for (const f of m.fieldMappings) expect(IDENTIFIERS[m.entityType]).toContain(f.identifier);
        }
        const details = Object.keys(item.customDetails ?? {});
        expect(details.length).toBeLessThanOrEqual(20);
        for (const k of details) expect(k).toMatch(/^[A-Za-z0-9]{1,20}$/);
        const override = item.alertDetailsOverride;
        if (override?.alertDisplayNameFormat) {
          expect(override.alertDisplayNameFormat.length).toBeLessThanOrEqual(256);
          expect(params(override.alertDisplayNameFormat).length).toBeLessThanOrEqual(3);
        }
        if (override?.alertDescriptionFormat) {
          expect(override.alertDescriptionFormat.length).toBeLessThanOrEqual(5000);
          expect(params(override.alertDescriptionFormat).length).toBeLessThanOrEqual(3);
        }
        if (kind === "Scheduled") {
          expect(item.severity).toMatch(/^(High|Medium|Low|Informational)$/);
          expect(days(item.queryFrequency ?? "")).toBeLessThanOrEqual(14);
          expect(days(item.queryPeriod ?? "")).toBeLessThanOrEqual(14);
          expect(days(item.queryPeriod ?? "")).toBeGreaterThanOrEqual(days(item.queryFrequency ?? ""));
          expect(item.triggerOperator).toBe("gt");
          expect(item.triggerThreshold).toBe(0);
        }
      });
    });
  }

  it('our own content follows the style guide: names of at most 50 characters, descriptions that start with "Identifies"', () => {
    expect(ours.map((i) => i.file).sort()).toEqual([
      "hunting/member-added-outside-access-package.yaml",
      "hunting/owners-removed-from-governed-groups.yaml",
      "hunting/users-left-governed-groups.yaml",
      "hunting/users-readded-after-removal.yaml",
      "rules/user-removed-as-group-owner.yaml",
      "rules/user-removed-from-group-scheduled.yaml",
      "rules/user-removed-from-group.yaml",
    ]);
    for (const item of ours) {
      expect(item.name.length, item.file).toBeLessThanOrEqual(50);
      expect(item.description.startsWith("Identifies"), item.file).toBe(true);
    }
  });

  it("ships the published seeds as published: id, version, severity, tactics, techniques", () => {
    for (const [file, seed] of Object.entries(SEEDS)) {
      const item = byFile(file);
      expect(item.id).toBe(seed.id);
      expect(item.version).toBe(seed.version);
      expect(item.severity).toBe(seed.severity);
      expect(item.tactics).toEqual(seed.tactics);
      expect(item.relevantTechniques).toEqual(seed.techniques);
    }
    const pim = byFile("rules/changes-to-pim-settings.yaml") as ContentItem & { tags?: string[] };
    expect(pim.tags).toEqual(["AADSecOpsGuide"]);
    expect(pim.entityMappings.map((m) => m.fieldMappings.map((f) => f.identifier))).toEqual([
      ["FullName", "Name", "UPNSuffix"],
      ["AadUserId"],
      ["Address"],
    ]);
    // The guest query keeps its published operation list, not whole categories.
    expect(byFile("hunting/guest-account-privileged-operation.yaml").query).toContain('"Add service principal credentials"');
  });

  it("the detection maps the removed user, the group and the application, never the actor as an Account", () => {
    for (const rule of rules.filter((r) => r.name.startsWith("User removed"))) {
      const account = rule.entityMappings.filter((m) => m.entityType === "Account");
      expect(account).toHaveLength(1);
      expect(account[0]?.fieldMappings).toEqual([
        { identifier: "AadUserId", columnName: "TargetUserId" },
        { identifier: "ObjectGuid", columnName: "TargetUserId" },
        { identifier: "FullName", columnName: "TargetUPN" },
      ]);
      expect(rule.entityMappings.find((m) => m.entityType === "SecurityGroup")?.fieldMappings).toEqual([
        { identifier: "ObjectGuid", columnName: "GroupId" },
      ]);
      // The remediation app reads the application's service principal id from InstanceName.
      if (rule.file !== "rules/user-removed-as-group-owner.yaml")
        expect(rule.entityMappings.find((m) => m.entityType === "CloudApplication")?.fieldMappings).toContainEqual({
          identifier: "InstanceName",
          columnName: "AppServicePrincipalId",
        });
    }
  });

  it("the owner rule keeps the membership rule's actor exclusions, watchlist and self-removal lines word for word", () => {
    const member = byFile("rules/user-removed-from-group.yaml");
    const owner = byFile("rules/user-removed-as-group-owner.yaml");
    const lines = (q: string) => q.split("\n").map((l) => l.trim());
    const shared = lines(member.query).filter(
      (l) =>
        /^let (SystemAppIds|SystemAppNames|RemediationPrincipalId|Exempt) =/.test(l) ||
        /^\| (extend Actor|where tostring\(InitiatedBy|where ActorId)/.test(l),
    );
    expect(shared).toHaveLength(10);
    for (const line of shared) expect(lines(owner.query), line).toContain(line);
    expect(owner.query).toContain('| where OperationName == "Remove owner from group"');
    expect(member.query).not.toContain("Remove owner from group");
    for (const key of ["customDetails", "alertDetailsOverride", "tactics", "relevantTechniques", "severity"] as const)
      expect(owner[key]).toEqual(member[key]);
  });

  it("the Scheduled detection is the NRT query plus one aligned, half-open ingestion-time window, looking back an hour", () => {
    const nrt = byFile("rules/user-removed-from-group.yaml");
    const scheduled = byFile("rules/user-removed-from-group-scheduled.yaml");
    expect(scheduled.query.replace(`${SCHEDULED_WINDOW}\n`, "")).toBe(nrt.query);
    expect(scheduled.query).not.toBe(nrt.query);
    expect(scheduled.queryFrequency).toBe("5m");
    expect(scheduled.queryPeriod).toBe("1h");
    for (const key of ["entityMappings", "customDetails", "alertDetailsOverride", "tactics", "relevantTechniques", "severity"] as const)
      expect(scheduled[key]).toEqual(nrt[key]);
  });

  it("the re-add hunting query keeps removals whose only add came before them", () => {
    const query = byFile("hunting/users-readded-after-removal.yaml").query;
    expect(query).toMatch(/join kind=leftouter/);
    expect(query).not.toMatch(/where isnull\(ReAddedTime\) or ReAddedTime > RemovedTime/);
    expect(query).toMatch(/AddedTime > RemovedTime, AddedTime, NotYet/);
  });

  it("the analyzer does report errors (a wrong column is caught)", () => {
    expect(analyzeKql("AuditLogs | project NoSuchColumn").errors).toHaveLength(1);
    expect(analyzeKql("SigninLogs | where UserPrincipalName has '#EXT#' | project UserPrincipalName").errors).toEqual([]);
  });
});

/** The cases each rule's samples must decide on. */
const CASES: Record<string, RegExp[]> = {
  "user-removed-from-group.json": [
    /^alert: A person/m,
    /^no alert: Entra ID Governance/m,
    /^no alert: A device/m,
    /^no alert: A service principal/m,
    /^no alert: .*herself/m,
    /^alert: Removed in Microsoft Teams/m,
    /^alert: Bulk removal/m,
    /^no alert: .*MS-PIM/m,
    /^no alert: .*watchlist/m,
    /^alert: .*application role/m,
    /^alert: Removed in Outlook or Exchange/m,
    /^no alert: The remediation app's own identity/m,
    /^no alert: A nested group/m,
    /^alert: .*no Group\.ObjectID/m,
    /^alert: .*default access/m,
    /^no alert: Lifecycle Workflows/m,
    /^no alert: Microsoft Approval Management/m,
    /^no alert: An owner removal/m,
  ],
  "user-removed-from-group-scheduled.json": [
    /^alert: Ingested 1 ms before 12:05/m,
    /^alert: Ingested exactly at 12:05/m,
    /^alert: .*46 minutes late/m,
    /^no alert: .*66 minutes late/m,
  ],
  "user-removed-as-group-owner.json": [
    /^alert: A person .* as owner/m,
    /^no alert: Entra ID Governance/m,
    /^no alert: .*herself/m,
    /^no alert: A service principal/m,
    /^no alert: .*MS-PIM/m,
    /^no alert: .*watchlist/m,
    /^no alert: Lifecycle Workflows/m,
    /^alert: Removed as owner in Microsoft Teams/m,
    /^alert: .*no Group\.ObjectID/m,
    /^no alert: The remediation app's own identity/m,
    /^no alert: A membership removal/m,
  ],
};

describe("sample AuditLogs records", () => {
  const columns = auditLogsColumns().map(([c]) => c);
  const files = sampleFiles();

  it("each rule of ours that reads AuditLogs removals has samples, each stating its decision and why", () => {
    expect(files.map((f) => f.split("/").pop()).sort()).toEqual([
      "user-removed-as-group-owner.json",
      "user-removed-from-group-scheduled.json",
      "user-removed-from-group.json",
    ]);
    for (const f of files) {
      const s = JSON.parse(readFileSync(f, "utf8")) as SampleFile;
      for (const sample of s.samples) {
        expect(["alert", "no alert"]).toContain(sample.decision);
        expect(sample.why.length).toBeGreaterThan(20);
        for (const key of Object.keys(sample.record)) expect(columns).toContain(key);
      }
      // The cases the rule must decide on.
      const whys = s.samples.map((x) => `${x.decision}: ${x.why}`).join("\n");
      for (const pattern of CASES[f.split("/").pop() ?? ""] ?? [/^never$/]) expect(whys).toMatch(pattern);
    }
  });

  it("every system actor, by app id and by each of its names, has a sample the rule must not alert on", () => {
    const s = JSON.parse(readFileSync(files.find((f) => f.endsWith("/user-removed-from-group.json")) as string, "utf8")) as SampleFile;
    const quiet = s.samples
      .filter((x) => x.decision === "no alert")
      .map((x) => (x.record.InitiatedBy as { app?: { appId?: string; displayName?: string } }).app ?? {});
    const missing: string[] = [];
    for (const actor of systemActors()) {
      expect(actor.source.length, actor.name).toBeGreaterThan(30);
      if (actor.appId && !quiet.some((app) => app.appId?.toLowerCase() === actor.appId?.toLowerCase()))
        missing.push(`${actor.name}: app id ${actor.appId}`);
      for (const name of actor.displayNames) {
        // By name alone (no app id in the record), in another case than the list's.
        if (!quiet.some((app) => !app.appId && app.displayName?.toLowerCase() === name.toLowerCase()))
          missing.push(`${actor.name}: name "${name}" without an app id`);
      }
    }
    expect(missing).toEqual([]);
    expect(systemActors().find((a) => a.name === "Lifecycle Workflows")).toMatchObject({
      appId: "ce79fdc4-cd1d-4ea5-8139-e74d7dbe0bb7",
      displayNames: ["AAD Lifecycle Management", "Microsoft Entra Lifecycle Workflows"],
    });
  });

  it("the system actor list is the only one: no query names a system actor itself", () => {
    const literal = systemActors().flatMap((a) => [...a.displayNames, ...(a.appId ? [a.appId] : [])]);
    for (const item of all) {
      for (const value of literal) expect(item.query.toLowerCase(), `${item.file} names ${value}`).not.toContain(value.toLowerCase());
    }
    for (const file of [
      "rules/user-removed-from-group.yaml",
      "rules/user-removed-from-group-scheduled.yaml",
      "rules/user-removed-as-group-owner.yaml",
      "hunting/member-added-outside-access-package.yaml",
    ]) {
      expect(byFile(file).query).toContain('dynamic(["__SYSTEM_ACTOR_APP_IDS__"])');
      expect(byFile(file).query).toContain('dynamic(["__SYSTEM_ACTOR_NAMES__"])');
    }
  });

  it("the add-member records carry Group.ObjectID in newValue and the real property names", () => {
    const adds = JSON.parse(readFileSync(join(CONTENT, "samples", "auditlogs-add-member-to-group.json"), "utf8")) as Record<string, any>[];
    expect(adds.length).toBeGreaterThan(0);
    for (const record of adds) {
      for (const key of Object.keys(record)) expect(columns).toContain(key);
      const group = record.TargetResources[0].modifiedProperties.find((p: { displayName: string }) => p.displayName === "Group.ObjectID");
      expect(JSON.parse(group.newValue)).toMatch(/^[0-9a-f-]{36}$/);
    }
    const names = JSON.stringify([...adds, ...files.map((f) => readFileSync(f, "utf8"))]);
    expect(names).not.toMatch(/"Group\.WellKnownObject"/);
  });

  for (const f of files) {
    it(`${f.split("/").pop()}: the generated KQL (records as a datatable, then the rule; one per run) analyzes with zero errors`, () => {
      const s = JSON.parse(readFileSync(f, "utf8")) as SampleFile;
      const texts = samplesKql(f);
      expect(texts).toHaveLength(s.runs?.length ?? 1);
      texts.forEach((kql, n) => {
        const run = s.runs?.[n];
        const analysis = analyzeKql(kql);
        expect(analysis.errors).toEqual([]);
        expect([...analysis.columns.keys()]).toContain("CorrelationId");
        expect(kql).toMatch(/^let AuditLogs = datatable\(/m);
        expect(kql).toMatch(/^let _GetWatchlist = /m);
        for (const sample of s.samples) {
          const decision = run === undefined || sample.run === run ? sample.decision : "no alert";
          expect(kql).toContain(`//   ${decision.padEnd(8)}  ${String(sample.record.CorrelationId)}`);
          expect(kql).toContain(`"${String(sample.record.CorrelationId)}"`);
        }
        expect(kql).not.toContain("__REMEDIATION_PRINCIPAL_ID__");
        if (run) {
          expect(kql).not.toContain("ingestion_time()");
          expect(kql).not.toContain("now()");
          expect(kql).toContain(`| where TimeGenerated > datetime(${run}) - 1h;`);
        }
      });
    });
  }

  it("the Scheduled variant's edge samples: each record alerts in exactly one run, or in none when it arrives after the look-back", () => {
    const s = JSON.parse(readFileSync(join(SAMPLES, "user-removed-from-group-scheduled.json"), "utf8")) as SampleFile;
    const runs = s.runs ?? [];
    expect(runs).toHaveLength(3);
    for (const sample of s.samples) {
      expect(sample.ingestedAt, sample.why).toMatch(/^2026-11-20T\d\d:\d\d:\d\d\.\d{3}Z$/);
      if (sample.decision === "alert") expect(runs, sample.why).toContain(sample.run);
      else expect(sample.run).toBeUndefined();
    }
    // The decisions follow from the rule's own window line: [bin(run - lag, size) - size, bin(run - lag, size)),
    // and the look-back on TimeGenerated (queryPeriod).
    const rule = byFile("rules/user-removed-from-group-scheduled.yaml");
    const m =
      /ingestion_time\(\) >= bin\(now\(\) - (\d+)m, (\d+)m\) - (\d+)m and ingestion_time\(\) < bin\(now\(\) - (\d+)m, (\d+)m\)/.exec(
        rule.query,
      );
    const [lag, size] = [Number(m?.[1]) * 60_000, Number(m?.[2]) * 60_000];
    expect([m?.[3], m?.[4], m?.[5]]).toEqual([m?.[2], m?.[1], m?.[2]]);
    const lookBack = days(rule.queryPeriod ?? "") * 86_400_000;
    for (const sample of s.samples) {
      const at = Date.parse(sample.ingestedAt ?? "");
      const alertedBy = runs.filter((run) => {
        const end = Math.floor((Date.parse(run) - lag) / size) * size;
        return at >= end - size && at < end && Date.parse(String(sample.record.TimeGenerated)) > Date.parse(run) - lookBack;
      });
      expect(alertedBy, sample.why).toEqual(sample.run ? [sample.run] : []);
    }
    // The edges: 1 ms before and exactly at a window boundary, on both sides of two runs.
    const ingested = s.samples.map((x) => x.ingestedAt?.slice(11));
    for (const edge of ["12:04:59.999Z", "12:05:00.000Z", "12:09:59.999Z", "12:10:00.000Z"]) expect(ingested).toContain(edge);
  });
});

describe("published seeds keep their metadata", () => {
  /** The metadata block of a seed page (../shared/seeds), as YAML, when the page has it whole. */
  const seedMetadata = (text: string): unknown => {
    const m = /^metadata:\n((?:[ \t].*\n)+)/m.exec(text);
    return m ? (parseYaml(`metadata:\n${m[1]}`) as { metadata: unknown }).metadata : undefined;
  };
  for (const [file, seed] of [
    ["rules/changes-to-pim-settings.yaml", "changes-to-pim-settings.txt"],
    ["hunting/temporary-access-pass-created.yaml", "temporary-access-pass-created.txt"],
  ] as const) {
    it(`${file} ships the seed's metadata as published`, () => {
      const shipped = (parseYaml(readFileSync(join(CONTENT, file), "utf8")) as { metadata?: unknown }).metadata;
      expect(shipped).toMatchObject({ source: { kind: "Community" }, support: { tier: "Community" } });
      const published = join(CONTENT, "..", "..", "..", "shared", "seeds", seed);
      // The seed pages sit beside the project (../shared); where they are not, the shipped copy stands.
      if (existsSync(published)) expect(shipped).toEqual(seedMetadata(readFileSync(published, "utf8")));
    });
  }
});
