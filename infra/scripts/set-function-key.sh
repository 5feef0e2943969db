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
set -euo pipefail
rg="${1:?usage: set-function-key.sh <resource-group> <function-app-name> [deployment arguments ...]}"
app="${2:?usage: set-function-key.sh <resource-group> <function-app-name> [deployment arguments ...]}"
shift 2
key=$(openssl rand -base64 48 | tr -d '\n/+=' | cut -c1-56)
az functionapp function keys set --resource-group "$rg" --name "$app" --function-name remediateIncident \
  --key-name playbook --key-value "$key" >/dev/null
echo "Function key \"playbook\" set on $app/remediateIncident; redeploying the playbook with it"
az deployment group create --resource-group "$rg" "$@" --parameters webhookAuth=functionKey functionKey="$key" >/dev/null
echo "Done: the playbook now authenticates with the new key"
