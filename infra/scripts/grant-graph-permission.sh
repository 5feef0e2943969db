#!/usr/bin/env bash
# Grants the app identity the Microsoft Graph application permissions it needs, for deployers who
# cannot use the Graph Bicep extension (deploy with grantGraphPermission=false first), and with
# --webhook also the playbook identity's app role on the webhook's app registration, which the
# deployment then leaves out as well. Run as someone who may grant app roles: the call needs
# AppRoleAssignment.ReadWrite.All and Application.Read.All, which Privileged Role Administrator
# (or Global Administrator) has; Application Developer is not enough.
#
#   infra/scripts/grant-graph-permission.sh <identity-object-id> [permission ...]
#   infra/scripts/grant-graph-permission.sh --webhook <playbook-principal-id> <webhook-sp-id> <app-role-id>
#
# <identity-object-id> is the deployment output IDENTITY_PRINCIPAL_ID. The permissions default to
# every one in src/graphPermissions.json (the table the code and the deployment read), which is the
# deployment output GRAPH_PERMISSIONS with Identity Protection on and tenant-wide entitlement
# management; pass GRAPH_PERMISSIONS's words for another mode. The --webhook ids are the deployment
# outputs WEBHOOK_CALLER_PRINCIPAL_ID, WEBHOOK_SERVICE_PRINCIPAL_ID and WEBHOOK_APP_ROLE_ID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: grant-graph-permission.sh <identity-object-id> [permission ...] | --webhook <playbook-principal-id> <webhook-sp-id> <app-role-id>"

# Assigns app role $3 of resource service principal $2 to principal $1, unless it already holds it.
assign() {
  local principal=$1 resource=$2 role=$3 label=$4
  existing=$(az rest --method GET \
    --url "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
    --query "value[?appRoleId=='$role' && resourceId=='$resource'] | length(@)" -o tsv)
  if [ "$existing" != "0" ]; then
    echo "$label: already granted to $principal"
    return
  fi
  az rest --method POST \
    --url "https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments" \
    --headers "Content-Type=application/json" \
    --body "{\"principalId\":\"$principal\",\"resourceId\":\"$resource\",\"appRoleId\":\"$role\"}" >/dev/null
  echo "$label: granted to $principal"
}

if [ "${1:-}" = "--webhook" ]; then
  [ $# -eq 4 ] || { echo "$usage" >&2; exit 2; }
  assign "$2" "$3" "$4" "Webhook.Invoke"
  exit 0
fi

principal="${1:?$usage}"
shift
permissions=("$@")
if [ ${#permissions[@]} -eq 0 ]; then
  mapfile -t permissions < <(node -e 'const t=require(process.argv[1]);console.log([...new Set(Object.values(t.calls).map(c=>c.permission))].join("\n"))' "$here/../../src/graphPermissions.json")
fi
graph_app_id="00000003-0000-0000-c000-000000000000"
graph_sp=$(az ad sp show --id "$graph_app_id" --query id -o tsv)

for permission in "${permissions[@]}"; do
  role_id=$(az ad sp show --id "$graph_app_id" --query "appRoles[?value=='$permission' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)
  [ -n "$role_id" ] || { echo "Microsoft Graph has no application permission named $permission" >&2; exit 1; }
  assign "$principal" "$graph_sp" "$role_id" "$permission"
done
