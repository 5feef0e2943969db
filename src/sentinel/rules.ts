import * as z from "zod/mini";
import { UpstreamError } from "../errors";
import type { Arm } from "./arm";

/**
 * The rule reads only `doctor` uses: is the detection rule there and enabled, and does an
 * automation rule run the playbook on its incidents.
 */
/** An analytics rule as the doctor checks it. */
export interface AlertRuleState {
  id: string;
  kind: string;
  enabled: boolean;
  displayName?: string;
}

/** An automation rule, reduced to what says whether it runs a playbook on a rule's incidents. */
export interface AutomationRuleState {
  displayName: string;
  enabled: boolean;
  triggersOn: string;
  /** Analytics rule ids (ARM ids, lower case) its IncidentRelatedAnalyticRuleIds conditions name. */
  ruleIds: string[];
  /** Resource ids (lower case) of the playbooks it runs. */
  playbooks: string[];
}

export interface RuleReads {
  /** An analytics rule of the workspace, or undefined when it does not exist. */
  getAlertRule(ruleId: string, signal: AbortSignal): Promise<AlertRuleState | undefined>;
  /** The workspace's automation rules (at most MAX_AUTOMATION_RULES). */
  listAutomationRules(signal: AbortSignal): Promise<AutomationRuleState[]>;
}

const alertRuleShape = z.object({
  id: z.string(),
  kind: z.string(),
  enabled: z.optional(z.boolean()),
  displayName: z.optional(z.string()),
});
const automationRuleShape = z.object({
  displayName: z.string(),
  triggeringLogic: z.object({
    isEnabled: z.boolean(),
    triggersOn: z.string(),
    conditions: z.optional(
      z.array(
        z.object({
          conditionType: z.string(),
          conditionProperties: z.optional(
            z.object({ propertyName: z.optional(z.string()), propertyValues: z.optional(z.array(z.string())) }),
          ),
        }),
      ),
    ),
  }),
  actions: z.array(
    z.object({ actionType: z.string(), actionConfiguration: z.optional(z.object({ logicAppResourceId: z.optional(z.string()) })) }),
  ),
});

/** Automation rules read at most (Sentinel allows 512 per workspace). */
export const MAX_AUTOMATION_RULES = 512;

export function ruleReads({ client, rg, ws, call, readOrMissing }: Arm): RuleReads {
  return {
    async getAlertRule(ruleId, signal) {
      const what = `read analytics rule ${ruleId}`;
      const rule = await readOrMissing(signal, what, (abortSignal) => client.alertRules.get(rg, ws, ruleId, { abortSignal }));
      if (rule === undefined) return undefined;
      const parsed = alertRuleShape.safeParse(rule);
      if (!parsed.success)
        throw new UpstreamError("sentinel", 200, `Sentinel could not ${what}: the answer is not the documented alert rule`);
      // Fusion and ML rules have no "enabled" flag of their own to read here: they count as enabled.
      return {
        id: parsed.data.id.toLowerCase(),
        kind: parsed.data.kind,
        enabled: parsed.data.enabled ?? true,
        ...(parsed.data.displayName ? { displayName: parsed.data.displayName } : {}),
      };
    },

    listAutomationRules: (signal) =>
      call(signal, "list automation rules", async (abortSignal) => {
        const out: AutomationRuleState[] = [];
        for await (const rule of client.automationRules.list(rg, ws, { abortSignal })) {
          const parsed = automationRuleShape.safeParse(rule);
          if (!parsed.success)
            throw new UpstreamError(
              "sentinel",
              200,
              "Sentinel could not list automation rules: an answer is not the documented automation rule",
            );
          const { triggeringLogic: logic, actions } = parsed.data;
          out.push({
            displayName: parsed.data.displayName,
            enabled: logic.isEnabled,
            triggersOn: logic.triggersOn,
            ruleIds: (logic.conditions ?? [])
              .filter((c) => c.conditionProperties?.propertyName === "IncidentRelatedAnalyticRuleIds")
              .flatMap((c) => c.conditionProperties?.propertyValues ?? [])
              .map((v) => v.toLowerCase()),
            playbooks: actions.flatMap((a) =>
              a.actionType === "RunPlaybook" && a.actionConfiguration?.logicAppResourceId
                ? [a.actionConfiguration.logicAppResourceId.toLowerCase()]
                : [],
            ),
          });
          if (out.length >= MAX_AUTOMATION_RULES) break;
        }
        return out;
      }),
  };
}
