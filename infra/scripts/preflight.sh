#!/usr/bin/env sh
# Checks before azd provisions (azure.yaml's preprovision hook), each failure with its fix, so that
# a first deployment does not stop half-way: the Sentinel workspace named, az signed in to the
# tenant azd deploys to, the resource providers the template uses registered, a region with Flex
# Consumption, the "Azure Security Insights" service principal found, Sentinel enabled on the
# workspace. Run it by hand the same way: sh infra/scripts/preflight.sh (with the azd environment's
# values exported: eval "$(azd env get-values)").
set -eu
fail() { echo "preflight: $1" >&2; exit 1; }

[ -n "${SENTINEL_WORKSPACE_NAME:-}" ] || fail "azd env set SENTINEL_WORKSPACE_NAME <workspace>"
[ -n "${SENTINEL_RESOURCE_GROUP:-}" ] || fail "azd env set SENTINEL_RESOURCE_GROUP <resource group of the workspace>"
az account show >/dev/null 2>&1 || fail "the Azure CLI is not signed in: run az login (the same account and tenant as azd), then azd up again."

sub=${AZURE_SUBSCRIPTION_ID:-$(az account show --query id -o tsv)}
az_tenant=$(az account show --subscription "$sub" --query tenantId -o tsv 2>/dev/null) \
  || fail "the Azure CLI's account cannot see subscription $sub (azd's): run az login --tenant <azd's tenant> or az account set --subscription $sub"
if [ -n "${AZURE_TENANT_ID:-}" ] && [ "$AZURE_TENANT_ID" != "$az_tenant" ]; then
  fail "azd deploys to tenant $AZURE_TENANT_ID but az is signed in to $az_tenant: run az login --tenant $AZURE_TENANT_ID"
fi

# Every resource provider namespace of the compiled template (a test keeps this list complete).
for ns in Microsoft.Web Microsoft.Logic Microsoft.Storage Microsoft.Insights Microsoft.OperationalInsights Microsoft.SecurityInsights Microsoft.ManagedIdentity; do
  state=$(az provider show --subscription "$sub" --namespace "$ns" --query registrationState -o tsv 2>/dev/null || echo unknown)
  [ "$state" = "Registered" ] || fail "resource provider $ns is $state in subscription $sub: run az provider register --subscription $sub --namespace $ns --wait"
done

if [ -n "${AZURE_LOCATION:-}" ]; then
  az functionapp list-flexconsumption-locations --query "[].name" -o tsv 2>/dev/null | tr 'A-Z' 'a-z' | tr -d ' ' | grep -qx "$(echo "$AZURE_LOCATION" | tr 'A-Z' 'a-z' | tr -d ' ')" \
    || fail "region $AZURE_LOCATION has no Flex Consumption plan (az functionapp list-flexconsumption-locations): azd env set AZURE_LOCATION <a listed region>"
fi

if [ -z "${SECURITY_INSIGHTS_PRINCIPAL_ID:-}" ]; then
  id=$(az ad sp show --id 98785600-1bb7-4fb9-b9fa-19afe2c8a360 --query id -o tsv 2>/dev/null || true)
  [ -n "$id" ] || fail "could not read the object id of the Azure Security Insights service principal (appId 98785600-1bb7-4fb9-b9fa-19afe2c8a360). Ask a tenant admin for it and run: azd env set SECURITY_INSIGHTS_PRINCIPAL_ID <object id>"
  azd env set SECURITY_INSIGHTS_PRINCIPAL_ID "$id"
fi

az rest --method get --output none --url "/subscriptions/$sub/resourceGroups/$SENTINEL_RESOURCE_GROUP/providers/Microsoft.OperationalInsights/workspaces/$SENTINEL_WORKSPACE_NAME/providers/Microsoft.SecurityInsights/onboardingStates/default?api-version=2024-09-01" 2>/dev/null \
  || fail "workspace $SENTINEL_WORKSPACE_NAME in $SENTINEL_RESOURCE_GROUP is not onboarded to Microsoft Sentinel (or you cannot read it). Enable Microsoft Sentinel on it first, then run azd up again."

if [ "${WEBHOOK_AUTH:-entra}" = "functionKey" ] && [ -z "${FUNCTION_KEY:-}" ]; then
  echo "preflight: webhookAuth=functionKey and no FUNCTION_KEY yet: after azd deploy, run infra/scripts/set-function-key.sh <resource group> <AZURE_FUNCTION_APP_NAME>" >&2
fi
echo "preflight: passed"
