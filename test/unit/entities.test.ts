/** src/core/entities.ts: users, groups and applications from the incident's entities. */
import { describe, expect, it } from "vitest";
import { extractEntities } from "../../src/core/entities";

const U1 = "7fd86a5c-d607-47e1-bdf8-d50f3d6637ce";
const U2 = "f1f722c3-a5bd-4c3f-855f-e56601d8d5c9";
const G1 = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";

describe("extractEntities", () => {
  it("takes the application whose role was lost from a CloudApplication entity's InstanceName (a service principal id)", () => {
    const APP = "5B1F8C2A-3D4E-4F6A-8B9C-0D1E2F3A4B5C";
    const r = extractEntities([
      { kind: "CloudApplication", properties: { appName: "Contoso Expenses", instanceName: APP } },
      { kind: "CloudApplication", properties: { appName: "Office 365 Exchange Online", appId: 20893 } },
    ]);
    expect(r.apps).toEqual([APP.toLowerCase()]);
    expect(r.groups).toEqual([]);
  });

  it("prefers aadUserId, falls back to objectGuid, dedupes and keeps a name", () => {
    const r = extractEntities([
      {
        kind: "Account",
        properties: {
          aadUserId: U1.toUpperCase(),
          objectGuid: "11111111-1111-1111-1111-111111111111",
          accountName: "adele",
          upnSuffix: "contoso.example",
        },
      },
      { kind: "Account", properties: { objectGuid: U2, friendlyName: "Grady" } },
      { kind: "Account", properties: { aadUserId: U1 } },
      { kind: "Account", properties: { aadUserId: "not-a-guid", accountName: "svc-onprem" } },
      { kind: "Account", properties: {} },
      { kind: "SecurityGroup", properties: { objectGuid: G1 } },
      { kind: "SecurityGroup", properties: { objectGuid: G1.toUpperCase() } },
      { kind: "SecurityGroup", properties: { distinguishedName: "CN=x" } },
      { kind: "Ip", properties: { address: "203.0.113.1" } },
    ]);
    expect(r.users).toEqual([
      { objectId: U1, source: "aadUserId", name: "adele@contoso.example" },
      { objectId: U2, source: "objectGuid", name: "Grady" },
    ]);
    expect(r.unusableAccounts).toEqual(["svc-onprem", "(unnamed account)"]);
    expect(r.groups).toEqual([G1]);
  });

  it("fills a missing name from a later duplicate entity", () => {
    const r = extractEntities([
      { kind: "Account", properties: { aadUserId: U1 } },
      { kind: "Account", properties: { aadUserId: U1, friendlyName: "Adele" } },
    ]);
    expect(r.users).toEqual([{ objectId: U1, source: "aadUserId", name: "Adele" }]);
  });
});
