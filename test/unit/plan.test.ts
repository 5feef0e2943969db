/** src/core/plan.ts: which assignments to reprocess, and why the others are skipped. */
import { describe, expect, it } from "vitest";
import { planReprocess } from "../../src/core/plan";
import type { Assignment } from "../../src/graph";

const U1 = "7fd86a5c-d607-47e1-bdf8-d50f3d6637ce";
const U2 = "f1f722c3-a5bd-4c3f-855f-e56601d8d5c9";
const G1 = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";
const G2 = "f611c99c-f011-4175-9a8b-035d01f50ea3";

const a = (id: string, state: string, pkg = "p1"): Assignment => ({
  id,
  state,
  accessPackageId: pkg,
  accessPackageName: pkg.toUpperCase(),
});

describe("planReprocess", () => {
  const grants = (groups: string[], apps: string[] = [], owners: string[] = []) => ({ groups, owners, apps });
  const none = grants([]);

  it("with a known group keeps only assignments whose package grants it, and leaves the others out", () => {
    const plan = planReprocess(
      [{ userId: U1, assignments: [a("a1", "delivered", "p1"), a("a2", "delivered", "p2")] }],
      grants([G1]),
      new Map([
        ["p1", grants([G1])],
        ["p2", grants([G2])],
      ]),
    );
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a1"]);
    // a2 has nothing to do with the removal: not reprocessed, and not listed as skipped either.
    expect(plan.skipped).toEqual([]);
  });

  it("with a known application keeps only assignments whose package grants a role of it", () => {
    const APP = "5b1f8c2a-3d4e-4f6a-8b9c-0d1e2f3a4b5c";
    const plan = planReprocess(
      [{ userId: U1, assignments: [a("a1", "delivered", "p1"), a("a2", "delivered", "p2"), a("a3", "delivered", "p3")] }],
      grants([], [APP]),
      new Map([
        ["p1", grants([G1])],
        ["p2", grants([], [APP])],
        ["p3", grants([G2], [APP])],
      ]),
    );
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a2", "a3"]);
    expect(plan.skipped).toEqual([]);
  });

  it("without a group considers all, reprocessing only delivered ones", () => {
    const plan = planReprocess(
      [
        {
          userId: U1,
          assignments: [
            a("a1", "delivered"),
            a("a2", "expired"),
            a("a3", "partiallyDelivered"),
            a("a4", "deliveryFailed"),
            a("a5", "unknownFutureValue"),
          ],
        },
      ],
      none,
      new Map(),
    );
    expect(plan.reprocess.map((x) => x.assignmentId)).toEqual(["a1"]);
    expect(plan.skipped.map((x) => [x.assignmentId, x.reason.split(";")[0]])).toEqual([
      ["a2", "assignment has expired"],
      ["a3", "partially delivered"],
      ["a4", "delivery failed"],
      ["a5", "state is unknownFutureValue, not delivered"],
    ]);
    expect(plan.attention.map((x) => x.assignmentId)).toEqual(["a3"]);
  });

  it("lists an assignment once even when two users' lists both hold it", () => {
    const plan = planReprocess(
      [
        { userId: U1, assignments: [a("a1", "delivered")] },
        { userId: U2, assignments: [a("a1", "delivered")] },
      ],
      none,
      new Map(),
    );
    expect(plan.reprocess).toHaveLength(1);
  });
});
