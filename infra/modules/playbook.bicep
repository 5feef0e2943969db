// The thin playbook: the Sentinel incident trigger and one HTTP action that forwards the trigger
// body to the function. All logic lives in the function.

@description('Required. Logic App name.')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Function app resource id (its default host key authenticates the call).')
param functionAppId string

@description('Required. Webhook URL of the remediation function.')
param webhookUrl string

@description('Required. Object id of the "Azure Security Insights" service principal (appId 98785600-1bb7-4fb9-b9fa-19afe2c8a360) in this tenant.')
param securityInsightsPrincipalId string

@description('Optional. Resource tags.')
param tags object = {}

var sentinelAutomationContributor = 'f4c81013-99ee-4d62-a7ee-b3f1f648599a'
var sentinelApiId = subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')

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
  identity: { type: 'SystemAssigned' }
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
          inputs: {
            method: 'POST'
            uri: '@parameters(\'webhookUrl\')'
            headers: {
              'Content-Type': 'application/json'
              'x-functions-key': '@parameters(\'functionKey\')'
            }
            body: '@triggerBody()'
            // 408/429/5xx are retried: the function answers 5xx when a reprocess failed.
            retryPolicy: { type: 'exponential', count: 4, interval: 'PT20S', minimumInterval: 'PT10S', maximumInterval: 'PT5M' }
          }
          // Keep the function key out of the run history.
          runtimeConfiguration: { secureData: { properties: [ 'inputs' ] } }
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
            connectionProperties: { authentication: { type: 'ManagedServiceIdentity' } }
          }
        }
      }
      functionKey: { value: listKeys('${functionAppId}/host/default', '2024-11-01').functionKeys.default }
      webhookUrl: { value: webhookUrl }
    }
  }
}

// Sentinel runs playbooks as its own service principal, which needs this role on the playbook's resource group.
resource sentinelCanRunPlaybook 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, securityInsightsPrincipalId, sentinelAutomationContributor)
  properties: {
    principalId: securityInsightsPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelAutomationContributor)
  }
}

@description('Resource id of the playbook (Logic App).')
output id string = workflow.id

@description('Object id of the playbook\'s managed identity.')
output principalId string = workflow.identity.principalId
