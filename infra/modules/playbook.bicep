// The thin playbook: the Sentinel incident trigger and one HTTP action that forwards the trigger
// body to the function. All logic lives in the function. The playbook runs as its own
// user-assigned identity: the Sentinel connection and, in Entra ID mode, the webhook call use it.

@description('Required. Logic App name.')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Resource id of the playbook\'s user-assigned identity.')
param identityId string

@description('Required. Webhook URL of the remediation function.')
param webhookUrl string

@description('Optional. Application (client) id of the webhook\'s app registration: the playbook calls with a token for it. Empty: it sends functionKey instead.')
param webhookAudience string = ''

@description('Optional. Function key for the webhook when webhookAudience is empty (set after the code is deployed: infra/scripts/set-function-key.sh).')
@secure()
param functionKey string = ''

@description('Optional. Resource tags.')
param tags object = {}

var sentinelApiId = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
var entra = !empty(webhookAudience)

resource connection 'Microsoft.Web/connections@2016-06-01' = {
  name: 'azuresentinel-${name}'
  location: location
  tags: tags
  properties: {
    displayName: 'Microsoft Sentinel (managed identity)'
    api: { id: sentinelApiId }
    // Managed identity authentication for the connection; not in the published schema.
    #disable-next-line BCP037
    parameterValueType: 'Alternative'
  }
}

resource workflow 'Microsoft.Logic/workflows@2019-05-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      parameters: {
        '$connections': { type: 'Object', defaultValue: {} }
        functionKey: { type: 'SecureString', defaultValue: '' }
        webhookUrl: { type: 'String', defaultValue: '' }
      }
      triggers: {
        Microsoft_Sentinel_incident: {
          type: 'ApiConnectionWebhook'
          inputs: {
            body: { callback_url: '@{listCallbackUrl()}' }
            host: { connection: { name: '@parameters(\'$connections\')[\'azuresentinel\'][\'connectionId\']' } }
            path: '/incident-creation'
          }
        }
      }
      actions: {
        Forward_incident_to_function: {
          type: 'Http'
          inputs: union(
            {
              method: 'POST'
              uri: '@parameters(\'webhookUrl\')'
              body: '@triggerBody()'
              // 408/429/5xx are retried: the function answers 5xx when a reprocess failed.
              retryPolicy: { type: 'exponential', count: 4, interval: 'PT20S', minimumInterval: 'PT10S', maximumInterval: 'PT5M' }
            },
            entra
              ? {
                  headers: { 'Content-Type': 'application/json' }
                  authentication: { type: 'ManagedServiceIdentity', identity: identityId, audience: webhookAudience }
                }
              : {
                  headers: { 'Content-Type': 'application/json', 'x-functions-key': '@parameters(\'functionKey\')' }
                }
          )
          // Keep the key and the answer (user names, assignments) out of the run history.
          runtimeConfiguration: { secureData: { properties: [ 'inputs', 'outputs' ] } }
        }
      }
    }
    parameters: {
      '$connections': {
        value: {
          azuresentinel: {
            connectionId: connection.id
            connectionName: connection.name
            id: sentinelApiId
            connectionProperties: { authentication: { type: 'ManagedServiceIdentity', identity: identityId } }
          }
        }
      }
      functionKey: { value: functionKey }
      webhookUrl: { value: webhookUrl }
    }
  }
}

@description('Resource id of the playbook (Logic App).')
output id string = workflow.id
