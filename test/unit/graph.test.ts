import { describe, expect, it } from "vitest";
import { UpstreamError } from "../../src/errors";
import { grantsOfScopes } from "../../src/graph";

const G = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";
const SP = "5b1f8c2a-3d4e-4f6a-8b9c-0d1e2f3a4b5c";
const group = (roleOriginId: string | null) => ({
  role: roleOriginId === null ? null : { originId: roleOriginId, originSystem: "AadGroup" },
  scope: { originId: G.toUpperCase(), originSystem: "AadGroup" },
});

describe("grantsOfScopes", () => {
  it("sorts group scopes by their role: Member_ grants membership, Owner_ ownership; application scopes by service principal", () => {
    const grants = grantsOfScopes("p1", [
      group(`Member_${G}`),
      group(`Owner_${G}`),
      { role: { originId: "a1b2", originSystem: "AadApplication" }, scope: { originId: SP, originSystem: "AadApplication" } },
      {
        role: { originId: "4", originSystem: "SharePointOnline" },
        scope: { originId: "https://contoso.sharepoint.com/sites/x", originSystem: "SharePointOnline" },
      },
    ]);
    expect(grants).toEqual({ groups: [G], owners: [G], apps: [SP] });
  });

  it("fails on a group role Graph does not document, or none, rather than guess which role it grants", () => {
    expect(() => grantsOfScopes("p1", [group("Reader_x")])).toThrow(UpstreamError);
    expect(() => grantsOfScopes("p1", [group(null)])).toThrow(/role of group cc2f780d.* is null/);
  });
});
