#!/usr/bin/env bash
# Catalog-scoped mode (deployment parameter accessPackageCatalogIds): gives the app identity, on each
# catalog, the entitlement-management roles Microsoft Graph's pages name for the app's calls instead
# of the tenant-wide EntitlementManagement.ReadWrite.All: "Catalog reader" (list assignments, read
# access packages) and "Access package assignment manager" (reprocess). The roles come from
# src/graphPermissions.json, the table the code reads. Run as a Global Administrator, Identity
# Governance Administrator or the catalogs' owner:
#
#   infra/scripts/grant-catalog-role.sh <identity-object-id> <catalog-id> [catalog-id ...]
#
# <identity-object-id> is the deployment output IDENTITY_PRINCIPAL_ID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
principal="${1:?usage: grant-catalog-role.sh <identity-object-id> <catalog-id> [catalog-id ...]}"
shift
[ $# -gt 0 ] || { echo "usage: grant-catalog-role.sh <identity-object-id> <catalog-id> [catalog-id ...]" >&2; exit 2; }
url="https://graph.microsoft.com/v1.0/roleManagement/entitlementManagement/roleAssignments"
# "<role definition id> <role name>" per line.
mapfile -t roles < <(node -e 'const t=require(process.argv[1]);for(const[n,id]of Object.entries(t.catalogRoles))console.log(id+" "+n)' "$here/../../src/graphPermissions.json")

for catalog in "$@"; do
  for line in "${roles[@]}"; do
    role=${line%% *}
    name=${line#* }
    existing=$(az rest --method GET \
      --url "$url?\$filter=principalId eq '$principal' and roleDefinitionId eq '$role' and appScopeId eq '/AccessPackageCatalog/$catalog'" \
      --query "length(value)" -o tsv)
    if [ "$existing" != "0" ]; then
      echo "catalog $catalog: $name already assigned"
      continue
    fi
    az rest --method POST --url "$url" --headers "Content-Type=application/json" \
      --body "{\"principalId\":\"$principal\",\"roleDefinitionId\":\"$role\",\"appScopeId\":\"/AccessPackageCatalog/$catalog\"}" >/dev/null
    echo "catalog $catalog: $name assigned to $principal"
  done
done
