import { GUID } from "../config";
import type { IncidentEntity } from "../sentinel";

export interface UserRef {
  /** Entra object id, lower case. */
  objectId: string;
  /** Which Account property carried it. */
  source: "aadUserId" | "objectGuid";
  /** A readable name when the entity has one (UPN, account name or friendly name). */
  name?: string;
}

export interface ExtractedEntities {
  users: UserRef[];
  /** Readable names of Account entities that carry no usable Entra object id. */
  unusableAccounts: string[];
  /** Object ids (lower case) of SecurityGroup entities: the group(s) the user lost. */
  groups: string[];
  /** Group id → a readable name, when the entity carries one (friendlyName, distinguishedName). */
  groupNames: Record<string, string>;
  /**
   * Service principal ids (lower case) of CloudApplication entities: the application(s) whose
   * role the user lost. The detection maps the service principal's object id to InstanceName.
   */
  apps: string[];
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v.trim() : undefined);

function accountName(p: Record<string, unknown>): string | undefined {
  const account = str(p.accountName);
  const suffix = str(p.upnSuffix);
  if (account && suffix) return `${account}@${suffix}`;
  return str(p.friendlyName) ?? str(p.displayName) ?? account;
}

/**
 * Takes each Account entity's Entra object id: `aadUserId` (the documented field), else
 * `objectGuid` (where the original playbook's rule mapped the Entra id). Duplicates across
 * entities and alerts collapse to one user.
 */
export function extractEntities(entities: IncidentEntity[]): ExtractedEntities {
  const users = new Map<string, UserRef>();
  const unusableAccounts: string[] = [];
  const groups = new Set<string>();
  const groupNames: Record<string, string> = {};
  const apps = new Set<string>();

  for (const { kind, properties: p } of entities) {
    if (kind === "Account") {
      const aad = str(p.aadUserId);
      const guid = str(p.objectGuid);
      const ref: UserRef | undefined =
        aad && GUID.test(aad)
          ? { objectId: aad.toLowerCase(), source: "aadUserId" }
          : guid && GUID.test(guid)
            ? { objectId: guid.toLowerCase(), source: "objectGuid" }
            : undefined;
      const name = accountName(p);
      if (!ref) {
        unusableAccounts.push(name ?? "(unnamed account)");
        continue;
      }
      const known = users.get(ref.objectId);
      if (!known) users.set(ref.objectId, name ? { ...ref, name } : ref);
      else if (!known.name && name) known.name = name;
    } else if (kind === "SecurityGroup") {
      const id = str(p.objectGuid);
      if (id && GUID.test(id)) {
        groups.add(id.toLowerCase());
        const name = [str(p.friendlyName), str(p.displayName), str(p.distinguishedName)].find((n) => n !== undefined && !GUID.test(n));
        if (name && !groupNames[id.toLowerCase()]) groupNames[id.toLowerCase()] = name;
      }
    } else if (kind === "CloudApplication") {
      const id = str(p.instanceName);
      if (id && GUID.test(id)) apps.add(id.toLowerCase());
    }
  }
  return { users: [...users.values()], unusableAccounts, groups: [...groups], groupNames, apps: [...apps] };
}
