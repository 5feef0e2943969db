// One deployment for the whole remediation loop:
//   function app (Flex Consumption, Node 22, user-assigned identity, keyless storage, App Insights)
//   + the identity's permissions (Sentinel Responder; Graph EntitlementManagement.ReadWrite.All)
//   + the playbook (Sentinel incident trigger → HTTP POST to the function)
//   + the detection rule, the automation rule and the related Entra ID content in the Sentinel workspace.
targetScope = 'resourceGroup'

@description('Optional. Azure region for the app, playbook and monitoring resources.')
param location string = resourceGroup().location

@description('Optional. Short name used to derive resource names (letters and digits).')
@minLength(3)
@maxLength(12)
param namePrefix string = 'apremed'

@description('Required. Name of the Log Analytics workspace that has Microsoft Sentinel.')
param sentinelWorkspaceName string

@description('Optional. Resource group of the Sentinel workspace (same subscription). Default: this resource group.')
param sentinelResourceGroupName string = resourceGroup().name

@description('Required. Object id of the "Azure Security Insights" service principal (appId 98785600-1bb7-4fb9-b9fa-19afe2c8a360) in your tenant: az ad sp show --id 98785600-1bb7-4fb9-b9fa-19afe2c8a360 --query id -o tsv')
param securityInsightsPrincipalId string

@description('Optional. Grant the Graph app role through the Microsoft Graph Bicep extension (the deployer needs AppRoleAssignment.ReadWrite.All and Application.Read.All). Set false and run infra/scripts/grant-graph-permission.sh otherwise.')
param grantGraphPermission bool = true

@description('Optional. NRT (near-real-time, default) or Scheduled (every 5 minutes) detection rule.')
@allowed([ 'NRT', 'Scheduled' ])
param detectionMode string = 'NRT'

@description('Optional. Deploy the related Entra ID content: "Changes to PIM Settings" and the hunting queries.')
param deployRelatedContent bool = true

@description('Optional. enforce (reprocess and close) or dry-run (only comment what would be done).')
@allowed([ 'enforce', 'dry-run' ])
param remediationMode string = 'enforce'

@description('Optional. Resource tags.')
param tags object = {}

var suffix = uniqueString(resourceGroup().id, namePrefix)
var baseName = '${namePrefix}-${suffix}'
var detectionRuleName = loadYamlContent('content/rules/user-removed-from-group.yaml', '$.id')

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { name: 'id-${baseName}', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: { name: take('st${toLower(namePrefix)}${suffix}', 24), location: location, principalId: identity.outputs.principalId, tags: tags }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { name: baseName, location: location, principalId: identity.outputs.principalId, tags: tags }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  params: {
    name: 'func-${baseName}'
    location: location
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    tags: tags
    // The settings the app reads (src/config.ts); the same names as local.settings.json.
    remediationSettings: {
      SENTINEL_SUBSCRIPTION_ID: subscription().subscriptionId
      SENTINEL_RESOURCE_GROUP: sentinelResourceGroupName
      SENTINEL_WORKSPACE_NAME: sentinelWorkspaceName
      // Only incidents of the detection rule are acted on (the rule's name is its content id).
      SENTINEL_RULE_IDS: detectionRuleName
      REMEDIATION_MODE: remediationMode
      STATE_TABLE_ENDPOINT: storage.outputs.tableEndpoint
    }
  }
}

module sentinelAccess 'modules/sentinelAccess.bicep' = {
  name: 'sentinelAccess'
  scope: resourceGroup(sentinelResourceGroupName)
  params: { workspaceName: sentinelWorkspaceName, principalId: identity.outputs.principalId }
}

module graphAppRole 'modules/graphAppRole.bicep' = if (grantGraphPermission) {
  name: 'graphAppRole'
  params: { principalId: identity.outputs.principalId }
}

module playbook 'modules/playbook.bicep' = {
  name: 'playbook'
  params: {
    name: 'pb-${baseName}'
    location: location
    functionAppId: functionApp.outputs.id
    webhookUrl: functionApp.outputs.webhookUrl
    securityInsightsPrincipalId: securityInsightsPrincipalId
    tags: tags
  }
}

module detection 'modules/detection.bicep' = {
  name: 'detection'
  scope: resourceGroup(sentinelResourceGroupName)
  params: {
    workspaceName: sentinelWorkspaceName
    playbookId: playbook.outputs.id
    remediationPrincipalId: identity.outputs.principalId
    detectionMode: detectionMode
    deployRelatedContent: deployRelatedContent
  }
}

@description('Name of the function app (deploy the code with: func azure functionapp publish <name>, or azd deploy).')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Client id of the app identity (AZURE_CLIENT_ID).')
output AZURE_CLIENT_ID string = identity.outputs.clientId

@description('Object id of the app identity: grant it the Graph permission with infra/scripts/grant-graph-permission.sh when grantGraphPermission is false.')
output IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

@description('Resource id of the detection rule whose incidents are remediated.')
output DETECTION_RULE_ID string = detection.outputs.detectionRuleId

@description('Resource id of the playbook.')
output PLAYBOOK_ID string = playbook.outputs.id
