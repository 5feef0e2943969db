#!/usr/bin/env bash
# Catalog-scoped mode (deployment parameter accessPackageCatalogIds): gives the app identity the
# entitlement-management role "Access package assignment manager" on each catalog, instead of the
# tenant-wide EntitlementManagement.ReadWrite.All. Run as a Global Administrator, Identity
# Governance Administrator or the catalogs' owner:
#
#   infra/scripts/grant-catalog-role.sh <identity-object-id> <catalog-id> [catalog-id ...]
#
# <identity-object-id> is the deployment output IDENTITY_PRINCIPAL_ID.
set -euo pipefail
principal="${1:?usage: grant-catalog-role.sh <identity-object-id> <catalog-id> [catalog-id ...]}"
shift
[ $# -gt 0 ] || { echo "usage: grant-catalog-role.sh <identity-object-id> <catalog-id> [catalog-id ...]" >&2; exit 2; }
role="e2182095-804a-4656-ae11-64734e9b7ae5" # Access package assignment manager (built in)
url="https://graph.microsoft.com/v1.0/roleManagement/entitlementManagement/roleAssignments"

for catalog in "$@"; do
  existing=$(az rest --method GET \
    --url "$url?\$filter=principalId eq '$principal' and roleDefinitionId eq '$role' and appScopeId eq '/AccessPackageCatalog/$catalog'" \
    --query "length(value)" -o tsv)
  if [ "$existing" != "0" ]; then
    echo "catalog $catalog: already assigned"
    continue
  fi
  az rest --method POST --url "$url" --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal\",\"roleDefinitionId\":\"$role\",\"appScopeId\":\"/AccessPackageCatalog/$catalog\"}" >/dev/null
  echo "catalog $catalog: Access package assignment manager assigned to $principal"
done
