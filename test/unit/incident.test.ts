import { describe, expect, it } from "vitest";
import { RequestError } from "../../src/errors";
import { parseIncidentTrigger, parseIncidentTriggerText } from "../../src/incident";
import { readFixture } from "../helpers";

const fixture = () => structuredClone(readFixture("incident-trigger.json")) as Record<string, any>;

const refused = (body: unknown): RequestError => {
  try {
    parseIncidentTrigger(body);
  } catch (error) {
    if (error instanceof RequestError) return error;
    throw error;
  }
  throw new Error("accepted");
};

describe("parseIncidentTrigger", () => {
  it("reads the pointer out of a real trigger body", () => {
    expect(parseIncidentTrigger(fixture())).toEqual({
      incidentId: "cd74f139-de83-4f06-b21f-dc0331924736",
      armId: expect.stringContaining("/Incidents/cd74f139-de83-4f06-b21f-dc0331924736"),
      workspace: { subscriptionId: "3db968d7-cad1-4856-a953-89d2160c03a5", resourceGroup: "rg-sentinel", name: "law-sentinel-prod" },
    });
  });

  it("reads an update event to the same incident", () => {
    const update = readFixture("incident-trigger-update-objectguid.json");
    expect(parseIncidentTrigger(update)).toEqual(parseIncidentTrigger(fixture()));
  });

  it("keeps nothing of what the body claims beyond the pointer", () => {
    const body = fixture();
    body.object.properties.relatedEntities = [{ kind: "Account", properties: { aadUserId: "u" } }];
    expect(Object.keys(parseIncidentTrigger(body)).sort()).toEqual(["armId", "incidentId", "workspace"]);
  });

  it("names each missing or wrong field", () => {
    const body = fixture();
    delete body.workspaceInfo.WorkspaceName;
    body.object.name = "x";
    body.objectSchemaType = "Alert";
    const e = refused(body);
    expect(e.status).toBe(400);
    expect(e.code).toBe("InvalidIncident");
    expect(e.message).toContain("workspaceInfo.WorkspaceName");
    expect(e.message).toContain("object.name");
    expect(e.message).toContain("objectSchemaType");
  });

  it("refuses non-objects and empty objects", () => {
    expect(refused(null).message).toContain("body must be a JSON object");
    expect(refused([]).message).toContain("body");
    const e = refused({});
    expect(e.message).toContain("workspaceInfo is required");
    expect(e.message).toContain("object is required");
  });

  it("refuses an object.id that is not an incident resource id", () => {
    const body = fixture();
    body.object.id = "/subscriptions/x/resourceGroups/y";
    expect(refused(body).message).toContain("object.id must be an incident resource id");
  });

  it("refuses an object.id that disagrees with workspaceInfo or object.name", () => {
    const body = fixture();
    body.workspaceInfo.ResourceGroupName = "rg-other";
    body.object.name = "07dd808c-c0a4-4544-bb3a-132992587dde";
    const e = refused(body);
    expect(e.message).toContain("workspaceInfo.ResourceGroupName");
    expect(e.message).toContain("object.name");
  });

  it("ignores unknown fields and compares ids case-insensitively", () => {
    const body = fixture();
    body.extra = { anything: true };
    body.object.id = body.object.id.toUpperCase();
    expect(parseIncidentTrigger(body).incidentId).toBe("cd74f139-de83-4f06-b21f-dc0331924736");
  });
});

describe("parseIncidentTriggerText", () => {
  it("answers InvalidJson for unreadable JSON", () => {
    expect(() => parseIncidentTriggerText("{nope")).toThrow(expect.objectContaining({ code: "InvalidJson", status: 400 }));
  });

  it("does not let a __proto__ key change the result", () => {
    const text = JSON.stringify(readFixture("incident-trigger.json")).replace(
      "{",
      '{"__proto__":{"workspaceInfo":{"WorkspaceName":"evil"}},',
    );
    const pointer = parseIncidentTriggerText(text);
    expect(pointer.workspace.name).toBe("law-sentinel-prod");
    expect(({} as Record<string, unknown>).workspaceInfo).toBeUndefined();
  });
});
