#!/usr/bin/env bash
# Grants the app identity the Microsoft Graph application permission it needs, for deployers
# who cannot use the Graph Bicep extension (deploy with grantGraphPermission=false first).
# Run as someone who may grant app roles (Privileged Role Administrator or Global Administrator):
#
#   infra/scripts/grant-graph-permission.sh <identity-object-id> [permission]
#
# <identity-object-id> is the deployment output IDENTITY_PRINCIPAL_ID.
set -euo pipefail
principal="${1:?usage: grant-graph-permission.sh <identity-object-id> [permission]}"
permission="${2:-EntitlementManagement.ReadWrite.All}"
graph_app_id="00000003-0000-0000-c000-000000000000"

graph_sp=$(az ad sp show --id "$graph_app_id" --query id -o tsv)
role_id=$(az ad sp show --id "$graph_app_id" --query "appRoles[?value=='$permission' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
[ -n "$role_id" ] || { echo "Microsoft Graph has no application permission named $permission" >&2; exit 1; }

existing=$(az rest --method GET \
  --url "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
  --query "value[?appRoleId=='$role_id'] | length(@)" -o tsv)
if [ "$existing" != "0" ]; then
  echo "$permission is already granted to $principal"
  exit 0
fi

az rest --method POST \
  --url "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignedTo" \
  --headers "Content-Type=application/json" \
  --body "{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role_id\"}" >/dev/null
echo "Granted $permission to $principal"
