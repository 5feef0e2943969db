/**
 * REFERENCE ONLY — NOT PART OF THE APP. Reproduces the request pattern of the Azure Automation
 * PowerShell runbook this app replaces, so that the benchmark can compare the two on the same
 * fake tenant:
 *
 *   $all = Get-MgEntitlementManagementAssignment -All -ExpandProperty Target
 *   $mine = $all | Where-Object { $_.Target.ObjectId -eq $UserId -and $_.State -eq 'Delivered' }
 *   foreach ($a in $mine) { Invoke-MgReprocessEntitlementManagementAssignment -AccessPackageAssignmentId $a.Id }
 *
 * i.e. page through every assignment in the tenant, filter in the script, reprocess one by one.
 * It uses the Graph client's default middleware, as the PowerShell SDK uses its defaults.
 */
import type { TokenCredential } from "@azure/identity";
import { Client, ResponseType } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials";

interface Page {
  value: { id: string; state: string; target?: { objectId?: string } }[];
  "@odata.nextLink"?: string;
}

export async function runbookPattern(
  credential: TokenCredential,
  graphEndpoint: string,
  userId: string,
): Promise<{ pages: number; reprocessed: number }> {
  const origin = new URL(graphEndpoint).origin;
  const client = Client.initWithMiddleware({
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [`${origin}/.default`] }),
    baseUrl: origin,
    customHosts: new Set([new URL(origin).hostname]),
  });
  const mine: string[] = [];
  let pages = 0;
  let path: string | undefined = "/identityGovernance/entitlementManagement/assignments?$expand=target";
  while (path) {
    const page = (await client.api(path).get()) as Page;
    pages++;
    for (const a of page.value) if (a.target?.objectId === userId && a.state === "delivered") mine.push(a.id);
    const next = page["@odata.nextLink"];
    path = next ? new URL(next).pathname.replace(/^\/v1\.0/, "") + new URL(next).search : undefined;
  }
  for (const id of mine) {
    await client
      .api(`/identityGovernance/entitlementManagement/assignments/${id}/reprocess`)
      .responseType(ResponseType.RAW)
      .post(undefined);
  }
  return { pages, reprocessed: mine.length };
}
