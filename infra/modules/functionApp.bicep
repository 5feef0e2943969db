// The function app on Flex Consumption (Node 22), running as the user-assigned identity.

@description('Required. Function app name.')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Resource id of the user-assigned identity.')
param identityId string

@description('Required. Client id of the user-assigned identity.')
param identityClientId string

@description('Required. Storage account name for AzureWebJobsStorage.')
param storageAccountName string

@description('Required. URL of the deployment package container.')
param deploymentContainerUrl string

@description('Required. Application Insights connection string.')
param appInsightsConnectionString string

@description('Required. App settings the remediation code reads (SENTINEL_*, REMEDIATION_MODE).')
param remediationSettings object

@description('Optional. Maximum number of instances.')
param maximumInstanceCount int = 40

@description('Optional. Resource tags.')
param tags object = {}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  // azd deploys the code to the resource with this tag (azure.yaml service "api").
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      runtime: { name: 'node', version: '22' }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: 2048 }
    }
  }
}

// V8 heap sizing for the Node worker, passed through the documented languageWorkers__node__arguments
// setting. Without it V8 lets the young generation grow to 32 MB and collects lazily, so a burst
// peaked near 180 MB RSS holding ~25 MB of live objects; with it the same burst peaks near 125 MB
// at the same throughput (npm run bench runs the app with exactly this value). 512 MB of old space
// is ~20x the live set measured with 50 incidents in flight, and a quarter of the instance memory.
var nodeWorkerArguments = '--max-old-space-size=512 --max-semi-space-size=8'

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(
    {
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      AZURE_CLIENT_ID: identityClientId
      languageWorkers__node__arguments: nodeWorkerArguments
    },
    remediationSettings
  )
}

@description('Resource id of the function app.')
output id string = site.id

@description('Name of the function app.')
output name string = site.name

@description('URL of the remediation webhook (POST, function key required).')
output webhookUrl string = 'https://${site.properties.defaultHostName}/api/remediateIncident'
