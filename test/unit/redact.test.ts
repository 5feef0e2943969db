/** src/errors.ts redact(): credentials that ride along in a dependency's error text never leave the app. */
import { describe, expect, it } from "vitest";
import { messageOf, redact, upstreamError, UpstreamError } from "../../src/errors";

const SAS = "sv=2022-11-02&ss=t&srt=sco&sp=rwdlacu&se=2030-01-01T00:00:00Z&sig=AbCdEf0123456789%2Bxyz%3D";

describe("redact", () => {
  it.each([
    [`GET https://acct.table.core.windows.net/remediationstate?${SAS} failed`, "AbCdEf0123456789"],
    [
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5MTIzNDU2Nzg5MA==;EndpointSuffix=core.windows.net",
      "c2VjcmV0a2V5MTIzNDU2Nzg5MA",
    ],
    ["TableEndpoint=https://acct.table.core.windows.net;SharedAccessSignature=sv=2022&sig=XYZsecret", "XYZsecret"],
    ["authorization: Bearer abc.def-ghi_jkl-mno.pqr", "abc.def-ghi_jkl-mno.pqr"],
    ["token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4eHgifQ.c2lnbmF0dXJl in the log", "eyJhbGciOiJSUzI1NiJ9"],
    ["client_id=x&client_secret=s3cr3t-value&scope=y", "s3cr3t-value"],
    ['{"access_token":"at-123456"}', "at-123456"],
    ["https://app.azurewebsites.net/api/remediateIncident?code=fnKey123==", "fnKey123"],
  ])("%s", (text, secret) => {
    expect(redact(text)).not.toContain(secret);
    expect(redact(text)).toContain("[redacted]");
  });

  it("keeps what a person needs: the host, the table, the status and the rest of the message", () => {
    const out = redact(`PUT https://acct.table.core.windows.net/remediationstate?${SAS}: 403 AuthorizationFailure`);
    expect(out).toContain("https://acct.table.core.windows.net/remediationstate?");
    expect(out).toContain("403 AuthorizationFailure");
    expect(redact("No bearer token: the webhook requires one")).toBe("No bearer token: the webhook requires one");
    expect(redact("Graph could not read user 7fd86a5c: 404 Request_ResourceNotFound")).toBe(
      "Graph could not read user 7fd86a5c: 404 Request_ResourceNotFound",
    );
  });

  it("applies to every error the app raises and to every message it reads from another error", () => {
    expect(new UpstreamError("state", 403, `table ?${SAS}`).message).not.toContain("AbCdEf");
    expect(messageOf(new Error(`x ${SAS}`))).not.toContain("AbCdEf");
  });

  it("a state table that does not answer is named with its URL, and its SAS signature redacted", () => {
    const notFound = Object.assign(new Error("getaddrinfo ENOTFOUND acct.table.core.windows.net"), { code: "ENOTFOUND" });
    const error = upstreamError("state", "read the state of incident 42", notFound, "Storage Table Data Contributor", {
      setting: "STATE_TABLE_CONNECTION",
      url: `https://acct.table.core.windows.net/?${SAS}`,
    });
    expect(error.message).toContain("nothing answers at STATE_TABLE_CONNECTION (https://acct.table.core.windows.net/?");
    expect(error.message).toContain("sig=[redacted]");
    expect(error.message).not.toContain("AbCdEf");
  });
});
