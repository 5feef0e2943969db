import { ruleArmId } from "../config";
import type { Deps } from "../deps";
import { messageOf } from "../errors";
import { randomUUID } from "node:crypto";
import { GRAPH_CALLS, neededFor, type GraphCallName } from "../permissions";

/** One check of a live deployment: what was checked, whether it passed, and the fix when not. */
export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  /** The webhook's URL: an unauthenticated and a forged-header call must both be refused. */
  webhook?: string;
}

const EM = "/identityGovernance/entitlementManagement";
const GRANT = "grant it with infra/scripts/grant-graph-permission.sh (or redeploy with grantGraphPermission=true)";
const RESPONDER_FIX = "assign the app identity Microsoft Sentinel Responder on the workspace (infra/modules/sentinelAccess.bicep)";

/**
 * An operator's check of a live deployment with the app's own settings: one harmless call per
 * dependency, each proving a permission the app needs. Nothing is changed, except one probe row of
 * the state table, written and deleted again.
 */
export async function runDoctor(deps: Deps, signal: AbortSignal, options: DoctorOptions = {}): Promise<Check[]> {
  const checks = await Promise.all([
    ...sentinelChecks(deps, signal),
    ...graphChecks(deps, signal),
    attempt(
      "state table: write, read and delete a probe row",
      "Storage Table Data Contributor on the state table",
      () => deps.store.probe(signal).then(() => "the app's identity can use its state table"),
      "assign the app identity Storage Table Data Contributor on the table (infra/modules/storage.bicep); locally, start Azurite (npx azurite)",
    ),
    ...(options.webhook ? webhookChecks(options.webhook, deps, signal) : []),
  ]);
  return checks.flat();
}

function sentinelChecks(deps: Deps, signal: AbortSignal): Promise<Check | Check[]>[] {
  const { config, sentinel } = deps;
  const read = attempt(
    "Sentinel: incidents readable",
    "Microsoft Sentinel Responder",
    async () => {
      const listed = await sentinel.listNewIncidents(
        {
          createdAfter: new Date(deps.now() - 86_400_000),
          createdBefore: new Date(deps.now()),
          maxPages: 1,
          pageSize: 1,
          keep: () => true,
        },
        signal,
      );
      return `listed New incidents of the last 24 hours (${listed.read} on the first page)`;
    },
    RESPONDER_FIX,
  );
  const rules = (async (): Promise<Check[]> => {
    let automation;
    try {
      automation = await sentinel.listAutomationRules(signal);
    } catch (error) {
      return [fail("Sentinel: automation rules readable", error, RESPONDER_FIX)];
    }
    const results = await Promise.all(
      config.allowedRuleIds.map(async (id): Promise<Check[]> => {
        const name = `Sentinel: rule ${id}`;
        try {
          const rule = await sentinel.getAlertRule(id, signal);
          if (!rule)
            return [
              {
                check: name,
                ok: false,
                detail: "no analytics rule with this id in the workspace",
                fix: "fix SENTINEL_RULE_IDS, or deploy the detection (infra/modules/detection.bicep)",
              },
            ];
          const armId = ruleArmId(config.workspace, id);
          const runs = automation.filter(
            (a) =>
              a.enabled &&
              a.triggersOn === "Incidents" &&
              a.playbooks.length > 0 &&
              a.ruleIds.some((r) => r === armId || r.endsWith(`/${id}`)),
          );
          return [
            {
              check: `${name} exists`,
              ok: true,
              detail: `${rule.displayName ?? rule.kind} (${rule.kind}), ${rule.enabled ? "enabled" : "disabled"}`,
            },
            rule.enabled
              ? runs.length > 0
                ? { check: `${name}: an automation rule runs the playbook`, ok: true, detail: runs.map((a) => a.displayName).join(", ") }
                : {
                    check: `${name}: an automation rule runs the playbook`,
                    ok: false,
                    detail: "no enabled automation rule runs a playbook on its incidents",
                    fix: "deploy the automation rule (infra/modules/detection.bicep) or create one that runs the playbook",
                  }
              : {
                  check: `${name}: enabled`,
                  ok: true,
                  detail: "disabled: the other detection variant is the one in use (see the enabled-rule check)",
                },
          ];
        } catch (error) {
          return [fail(name, error, RESPONDER_FIX)];
        }
      }),
    );
    const flat = results.flat();
    const anyEnabled = flat.some((c) => c.ok && c.detail.includes(", enabled"));
    return [
      ...flat,
      {
        check: "Sentinel: an enabled rule in SENTINEL_RULE_IDS",
        ok: anyEnabled,
        detail: anyEnabled
          ? "at least one detection rule is enabled"
          : "no rule of SENTINEL_RULE_IDS is enabled: no incident will reach the app",
        ...(anyEnabled ? {} : { fix: "enable the detection rule in Sentinel (Analytics)" }),
      },
    ];
  })();
  return [read, rules];
}

function graphChecks(deps: Deps, signal: AbortSignal): Promise<Check | Check[]>[] {
  const { config, graph } = deps;
  const catalogScoped = config.catalogIds.length > 0;
  const fix = (call: GraphCallName) =>
    catalogScoped && GRAPH_CALLS[call].catalogRole
      ? "run infra/scripts/grant-catalog-role.sh for the catalogs in ACCESS_PACKAGE_CATALOG_IDS"
      : GRANT;
  /** One page of a listing the app (or this check) reads, proving the permission the table names for it. */
  const probe = (call: GraphCallName, path: string) => graph.probe(GRAPH_CALLS[call].purpose, path, neededFor(call, catalogScoped), signal);
  const check = (name: string, call: GraphCallName, run: () => Promise<string>) =>
    attempt(name, neededFor(call, catalogScoped), run, fix(call));
  const users = probe("listUsers", "/users?$top=1&$select=id");
  const groups = probe("listGroups", "/groups?$top=1&$select=id");
  users.catch(() => undefined);
  groups.catch(() => undefined);
  /** The first id of a listing another check reads; a check with nothing to read cannot pass. */
  const first = async (listing: Promise<string[]>, what: string) => {
    const [id] = await listing;
    if (!id) throw new Error(`no ${what} in the tenant to read: the check could not run`);
    return id;
  };

  const checks: Promise<Check | Check[]>[] = [
    check("Graph: users readable", "listUsers", async () => `${(await users).length} user(s) on the first page`),
    check("Graph: a user's account readable (account check)", "readUser", async () => {
      const user = await first(users, "user");
      const account = await graph.getUser(user, signal);
      return `read the account of one user (${account ? "found" : "not found"})`;
    }),
    check("Graph: groups readable", "listGroups", async () => `${(await groups).length} group(s) on the first page`),
    check("Graph: group members readable (delivery check)", "listGroupMembers", async () => {
      const group = await first(groups, "group");
      const members = await probe("listGroupMembers", `/groups/${group}/members?$top=1&$select=id`);
      return `read the direct members of one group (${members.length} on the first page)`;
    }),
    check("Graph: group owners readable (ownership check)", "listGroupOwners", async () => {
      const group = await first(groups, "group");
      const owners = await probe("listGroupOwners", `/groups/${group}/owners?$top=1&$select=id`);
      return `read the owners of one group (${owners.length} on the first page)`;
    }),
  ];
  // Tenant-wide only: a catalog role's reprocess right cannot be shown without an assignment of
  // the catalog, and reprocessing a real one is a change (docs/deploy.md).
  if (!catalogScoped)
    checks.push(
      check("Graph: reprocess allowed", "reprocess", async () => {
        // A reprocess of an assignment that does not exist changes nothing: 404 once the caller may reprocess, 403 when not.
        const answer = await graph.reprocess(randomUUID(), signal);
        if (answer !== "notFound") throw new Error("a reprocess of an assignment that does not exist was accepted");
        return "a reprocess of an assignment that does not exist answered 404 (allowed, nothing changed)";
      }),
    );
  if (config.riskCheck)
    checks.push(
      attempt(
        "Graph: risky users readable (risk check)",
        neededFor("listRiskyUsers"),
        async () =>
          `${(await probe("listRiskyUsers", "/identityProtection/riskyUsers?$top=1&$select=id")).length} item(s) on the first page`,
        `${GRANT}; without Entra ID P2 set IDENTITY_PROTECTION_CHECK=off`,
      ),
    );
  if (!catalogScoped) {
    checks.push(
      check(
        "Graph: access package assignments readable",
        "listAssignments",
        async () => `${(await probe("listAssignments", `${EM}/assignments?$top=1&$select=id`)).length} item(s) on the first page`,
      ),
    );
  } else {
    for (const catalog of config.catalogIds) {
      checks.push(
        check(`Graph: catalog ${catalog}: access packages and their assignments readable`, "listAssignments", async () => {
          const packages = await probe(
            "listCatalogPackages",
            `${EM}/accessPackages?$filter=${encodeURIComponent(`catalog/id eq '${catalog}'`)}&$top=1&$select=id`,
          );
          const pkg = await first(Promise.resolve(packages), `access package in catalog ${catalog}`);
          const assignments = await probe(
            "listAssignments",
            `${EM}/assignments?$filter=${encodeURIComponent(`accessPackage/id eq '${pkg}'`)}&$top=1&$select=id`,
          );
          return `listed the catalog's access packages and one package's assignments (${assignments.length} on the first page)`;
        }),
      );
    }
  }
  return checks;
}

function webhookChecks(url: string, deps: Deps, signal: AbortSignal): Promise<Check>[] {
  const post = (headers: Record<string, string>) =>
    fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: "{}", signal }).then((r) => r.status);
  const refused = (name: string, headers: Record<string, string>) =>
    (async (): Promise<Check> => {
      try {
        const status = await post(headers);
        return status === 401 || status === 403
          ? { check: name, ok: true, detail: `refused with ${status}` }
          : {
              check: name,
              ok: false,
              detail: `answered ${status}: the webhook let the call through`,
              fix: "set WEBHOOK_ALLOWED_CALLER, WEBHOOK_APP_ID and WEBHOOK_TENANT_ID (webhookAuth=entra), or require the function key",
            };
      } catch (error) {
        return fail(name, error, "check the URL; the function app must be running");
      }
    })();
  return [
    refused("webhook: an unauthenticated call is refused", {}),
    refused("webhook: a forged principal header is refused", {
      "x-ms-client-principal-id": deps.config.webhook?.caller ?? "00000000-0000-0000-0000-000000000000",
      "x-ms-client-principal-idp": "aad",
    }),
  ];
}

/** Runs one check: passes with what `run` says, fails with the error and the fix. */
async function attempt(check: string, permission: string, run: () => Promise<string>, fix: string): Promise<Check> {
  try {
    return { check, ok: true, detail: await run() };
  } catch (error) {
    return fail(check, error, `${fix} (needs ${permission})`);
  }
}

function fail(check: string, error: unknown, fix: string): Check {
  return { check, ok: false, detail: messageOf(error), fix };
}

/** A table a person reads in a terminal. */
export function renderChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.check.length));
  const lines = checks.map(
    (c) => `${c.ok ? "PASS" : "FAIL"}  ${c.check.padEnd(width)}  ${c.detail}${c.fix ? `\n      ${" ".repeat(width)}  fix: ${c.fix}` : ""}`,
  );
  const failed = checks.filter((c) => !c.ok).length;
  return [...lines, "", failed === 0 ? `All ${checks.length} checks passed.` : `${failed} of ${checks.length} checks failed.`].join("\n");
}
