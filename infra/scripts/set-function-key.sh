#!/usr/bin/env bash
# Only for webhookAuth=functionKey (Entra ID, the default, needs no key). Run after the code is
# deployed: creates a key of the remediateIncident function for the playbook alone (not the
# host's default key, which grants every function), then redeploys with it so that the playbook
# sends it. Re-run to rotate the key.
#
#   infra/scripts/set-function-key.sh <resource-group> <function-app-name> [az deployment group create arguments ...]
#
# Example: infra/scripts/set-function-key.sh rg-apremed func-apremed-abc123 \
#            --template-file infra/main.bicep --parameters infra/my.parameters.json
#
# In an azd project (azd on the PATH and an azd environment selected) it also records
# WEBHOOK_AUTH=functionKey and the key (FUNCTION_KEY) in the azd environment, which
# infra/main.parameters.json maps: a later azd provision keeps the key mode and the key instead of
# switching the playbook back to Entra ID. Deployment arguments are then optional: without them
# the script runs azd provision.
set -euo pipefail
usage="usage: set-function-key.sh <resource-group> <function-app-name> [deployment arguments ...]"
rg="${1:?$usage}"
app="${2:?$usage}"
shift 2
key=$(openssl rand -base64 48 | tr -d '\n/+=' | cut -c1-56)
az functionapp function keys set --resource-group "$rg" --name "$app" --function-name remediateIncident \
  --key-name playbook --key-value "$key" >/dev/null
echo "Function key \"playbook\" set on $app/remediateIncident"
if command -v azd >/dev/null && azd env get-values >/dev/null 2>&1; then
  azd env set WEBHOOK_AUTH functionKey
  azd env set FUNCTION_KEY "$key"
  echo "Recorded WEBHOOK_AUTH=functionKey and FUNCTION_KEY in the azd environment"
  if [ $# -eq 0 ]; then
    azd provision --no-prompt
    echo "Done: the playbook now authenticates with the new key"
    exit 0
  fi
fi
[ $# -gt 0 ] || { echo "no deployment arguments and no azd environment: $usage" >&2; exit 2; }
echo "Redeploying the playbook with it"
az deployment group create --resource-group "$rg" "$@" --parameters webhookAuth=functionKey functionKey="$key" >/dev/null
echo "Done: the playbook now authenticates with the new key"
