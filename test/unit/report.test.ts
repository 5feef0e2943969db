/** src/core/report.ts: the comment and the readable summary. */
import { describe, expect, it } from "vitest";
import { renderComment, renderText, stableId, type RemediationSummary } from "../../src/core/report";
import { summaryOf } from "../helpers";

const U1 = "7fd86a5c-d607-47e1-bdf8-d50f3d6637ce";
const G1 = "cc2f780d-13c1-4d6d-88ae-f8e2b5dd32a6";

describe("report", () => {
  const summary = (): RemediationSummary =>
    summaryOf({
      incident: { id: "i1", number: 7, title: "t" },
      outcome: "remediated",
      users: [{ objectId: U1, source: "aadUserId", name: "<b>adele</b>" }],
      groups: [G1],
      decisions: [{ guard: "account", userId: U1, result: "pass", reason: "account is enabled" }],
      restored: [{ userId: U1, kind: "group", targetId: G1 }],
      reprocessed: [{ userId: U1, assignmentId: "a1", accessPackageId: "p1", accessPackageName: "Finance & Ops", state: "delivered" }],
      skipped: [{ userId: U1, assignmentId: "a2", accessPackageId: "p2", state: "expired", reason: "assignment has expired" }],
      closed: true,
      message: "Access restored: the user's access package assignments were reprocessed and the incident is closed.",
    });

  it("stableId is a GUID that depends on every part", () => {
    expect(stableId("a", "b")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(stableId("a", "b")).toBe(stableId("a", "b"));
    expect(stableId("a", "b")).not.toBe(stableId("ab", ""));
    expect(stableId("a", "remediated")).not.toBe(stableId("a", "failed"));
  });

  it("a held incident's comment: the outcome first, each reason once with the action that releases it, groups by name", () => {
    const reason = "Identity Protection: risk state atRisk, level high";
    const held: RemediationSummary = {
      ...summary(),
      outcome: "held",
      closed: false,
      reprocessed: [],
      restored: [],
      groupNames: { [G1]: "sg-Finance" },
      decisions: [{ guard: "risk", userId: U1, result: "hold", reason }],
      message: `Held: ${reason}.`,
    };
    const text = renderComment(held)
      .replace(/<[^>]+>/g, " ")
      .replace(/&#39;/g, "'")
      .replace(/&quot;/g, '"');
    expect(text.trim().startsWith("Access package remediation: held, left open.")).toBe(true);
    expect(text.split(reason)).toHaveLength(2);
    expect(text).toContain("to release: dismiss or remediate the user's risk in Identity Protection, then run the playbook");
    expect(text).toContain(`"sg-Finance" (${G1})`);
    // The JSON summary keeps the reasons in its one sentence.
    expect(renderText(held)).toContain(`Held: ${reason}.`);
  });

  it("renders an escaped HTML comment naming users, packages and reasons", () => {
    const html = renderComment(summary());
    expect(html).toContain("&lt;b&gt;adele&lt;/b&gt;");
    expect(html).toContain("Finance &amp; Ops");
    expect(html).toContain("assignment has expired");
    expect(html).not.toContain("<b>adele");
  });

  it("keeps a comment under Sentinel's 30,000 character limit", () => {
    const s = summary();
    s.skipped = Array.from({ length: 2000 }, (_, i) => ({
      userId: U1,
      assignmentId: `a${i}`,
      accessPackageId: "p",
      state: "expired",
      reason: "assignment has expired",
    }));
    const html = renderComment(s);
    expect(html.length).toBeLessThanOrEqual(30_000);
    expect(html).toMatch(/… and \d+ more \(see the function's log\)/);
  });

  it("truncates section by section: what is not restored survives a long list, and no HTML entity is cut", () => {
    const s = summary();
    // 3,000 groups with names full of characters that need escaping, then what is not restored.
    s.groups = Array.from({ length: 3000 }, (_, i) => `g${i}`);
    s.groupNames = Object.fromEntries(s.groups.map((g) => [g, `R&D <"lab"> & 'ops' ${g}`]));
    s.notRestored = [{ userId: U1, kind: "group", targetId: "g1", reason: "no access package assignment of the user grants it" }];
    const html = renderComment(s);
    expect(html.length).toBeLessThanOrEqual(30_000);
    expect(html).toContain("<p><b>Not restored</b></p><ul><li>");
    expect(html).toContain("no access package assignment of the user grants it");
    expect(html).toMatch(/… and \d+ more/);
    // Every & starts a whole entity.
    expect(html.match(/&(?!amp;|lt;|gt;|quot;|#39;)/g)).toBeNull();
    expect(html.endsWith("</ul>")).toBe(true);
  });

  it("keeps the incident's control and escape sequences out of the terminal", () => {
    const s = summary();
    s.users = [{ objectId: U1, source: "aadUserId", name: "adele\u001b[2J\u001b]0;pwned\u0007" }];
    const text = renderText(s);
    expect([...text].filter((c) => c !== "\n" && (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))).toEqual([]);
    expect(text).toContain("adele?[2J?]0;pwned?");
  });

  it("renders readable text with counts", () => {
    const text = renderText(summary());
    expect(text).toContain("Incident #7 i1");
    expect(text).toContain("Reprocessed (1):");
    expect(text).toContain("Skipped (1):");
  });
});
