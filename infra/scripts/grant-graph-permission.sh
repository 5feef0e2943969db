#!/usr/bin/env bash
# Grants the app identity the Microsoft Graph application permissions it needs, for deployers
# who cannot use the Graph Bicep extension (deploy with grantGraphPermission=false first).
# Run as someone who may grant app roles (Privileged Role Administrator or Global Administrator):
#
#   infra/scripts/grant-graph-permission.sh <identity-object-id> [permission ...]
#
# <identity-object-id> is the deployment output IDENTITY_PRINCIPAL_ID; the permissions default to
# the deployment output GRAPH_PERMISSIONS (without Identity Protection: leave out IdentityRiskyUser.Read.All).
set -euo pipefail
principal="${1:?usage: grant-graph-permission.sh <identity-object-id> [permission ...]}"
shift
permissions=("$@")
[ ${#permissions[@]} -gt 0 ] || permissions=(EntitlementManagement.ReadWrite.All User.Read.All GroupMember.Read.All IdentityRiskyUser.Read.All)
graph_app_id="00000003-0000-0000-c000-000000000000"
graph_sp=$(az ad sp show --id "$graph_app_id" --query id -o tsv)

for permission in "${permissions[@]}"; do
  role_id=$(az ad sp show --id "$graph_app_id" --query "appRoles[?value=='$permission' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
  [ -n "$role_id" ] || { echo "Microsoft Graph has no application permission named $permission" >&2; exit 1; }
  # The identity's own assignments: /servicePrincipals/<identity>/appRoleAssignments.
  existing=$(az rest --method GET \
    --url "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
    --query "value[?appRoleId=='$role_id'] | length(@)" -o tsv)
  if [ "$existing" != "0" ]; then
    echo "$permission: already granted to $principal"
    continue
  fi
  az rest --method POST \
    --url "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role_id\"}" >/dev/null
  echo "$permission: granted to $principal"
done
