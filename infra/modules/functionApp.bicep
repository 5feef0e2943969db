// The function app on Flex Consumption (Node 22). Two identities: the host identity loads the code
// and runs the Functions host (storage, telemetry); the app identity (AZURE_CLIENT_ID) is what the
// code uses against Graph, Sentinel and its state table. With webhookAppId, App Service
// authentication (Entra ID) lets only the allowed caller reach the webhook.
//
// Flex Consumption rejects most siteConfig properties (ARM error 51021: ftpsState,
// use32BitWorkerProcess, netFrameworkVersion, linuxFxVersion, alwaysOn, functionAppScaleLimit, …)
// and ignores the runtime app settings it replaced (FUNCTIONS_WORKER_RUNTIME,
// WEBSITE_RUN_FROM_PACKAGE, …): the runtime, scale and deployment live in functionAppConfig.

@description('Required. Function app name.')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Resource id of the host identity (code package, host storage, telemetry).')
param hostIdentityId string

@description('Required. Client id of the host identity.')
param hostIdentityClientId string

@description('Required. Resource id of the app identity (Graph, Sentinel, state table).')
param appIdentityId string

@description('Required. Storage account name for AzureWebJobsStorage.')
param storageAccountName string

@description('Required. URL of the deployment package container.')
param deploymentContainerUrl string

@description('Required. Name of the Application Insights component (in this resource group) the app reports to.')
param appInsightsName string

@description('Required. App settings the remediation code reads (SENTINEL_*, REMEDIATION_MODE, AZURE_CLIENT_ID, …).')
param remediationSettings object

@description('Optional. Application (client) id of the webhook\'s app registration: turns on App Service authentication. Empty: the function key authenticates the webhook.')
param webhookAppId string = ''

@description('Optional. With webhookAppId: object id of the one identity allowed to call the webhook (the playbook\'s).')
param webhookCallerPrincipalId string = ''

@description('Optional. Maximum number of instances.')
param maximumInstanceCount int = 40

@description('Optional. Instance memory in MB. A burst of 1,000 incidents completes within a 128 MB V8 old space (docs/performance.md).')
@allowed([ 512, 2048, 4096 ])
param instanceMemoryMB int = 512

@description('Optional. Resource tags.')
param tags object = {}


resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

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
    userAssignedIdentities: { '${hostIdentityId}': {}, '${appIdentityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: hostIdentityId }
        }
      }
      runtime: { name: 'node', version: '22' }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: instanceMemoryMB }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(
    {
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: hostIdentityClientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${hostIdentityClientId};Authorization=AAD'
    },
    remediationSettings
  )
}

var entraAuth = !empty(webhookAppId)

// Entra ID in front of the webhook: a request without a valid v2 token for the app registration,
// issued to the allowed caller (WEBHOOK_ALLOWED_CALLER), gets 401/403 and never reaches the code
// (which checks the token again itself). Always deployed, enabled or not, so that switching
// webhookAuth from entra to functionKey really turns it off. The registration has no identifier
// URI, so its client id is the only audience a token can carry.
resource auth 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: entraAuth }
    globalValidation: entraAuth ? { requireAuthentication: true, unauthenticatedClientAction: 'Return401' } : { requireAuthentication: false }
    identityProviders: entraAuth
      ? {
          azureActiveDirectory: {
            enabled: true
            registration: {
              clientId: webhookAppId
              openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
            }
            validation: {
              allowedAudiences: [ webhookAppId ]
              defaultAuthorizationPolicy: {
                allowedPrincipals: { identities: [ webhookCallerPrincipalId ] }
              }
            }
          }
        }
      : {}
    login: { tokenStore: { enabled: false } }
  }
}

@description('Resource id of the function app.')
output id string = site.id

@description('Name of the function app.')
output name string = site.name

@description('URL of the remediation webhook (POST).')
output webhookUrl string = 'https://${site.properties.defaultHostName}/api/remediateIncident'
