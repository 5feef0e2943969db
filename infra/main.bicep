// One deployment for the whole remediation loop:
//   function app (Flex Consumption, Node 22, keyless storage, App Insights), with two identities:
//     host identity: loads the code and runs the Functions host (storage blobs, telemetry);
//     app identity:  acts on the tenant (Graph reads and reprocess, Sentinel Responder, its state table);
//   + Entra ID authentication on the webhook: an app registration whose only allowed caller is
//     the playbook's identity (or, with webhookAuth=functionKey, a function key set after code deploy);
//   + the playbook (Sentinel incident trigger → HTTP POST to the function);
//   + the detection rule, the automation rule and the related Entra ID content in the Sentinel workspace.
targetScope = 'resourceGroup'

@description('Optional. Azure region for the app, playbook and monitoring resources.')
param location string = resourceGroup().location

@description('Optional. Short name used to derive resource names (3-12 characters; letters and digits are kept for the storage account name).')
@minLength(3)
@maxLength(12)
param namePrefix string = 'apremed'

@description('Required. Name of the Log Analytics workspace that has Microsoft Sentinel.')
param sentinelWorkspaceName string

@description('Optional. Resource group of the Sentinel workspace (same subscription). Default: this resource group.')
param sentinelResourceGroupName string = resourceGroup().name

@description('Required. Object id of the "Azure Security Insights" service principal (appId 98785600-1bb7-4fb9-b9fa-19afe2c8a360) in your tenant: az ad sp show --id 98785600-1bb7-4fb9-b9fa-19afe2c8a360 --query id -o tsv')
param securityInsightsPrincipalId string

@description('Optional. Grant the Graph app roles through the Microsoft Graph Bicep extension (the deployer needs AppRoleAssignment.ReadWrite.All and Application.Read.All). Set false and run infra/scripts/grant-graph-permission.sh otherwise.')
param grantGraphPermission bool = true

@description('Optional. Grant the Microsoft Sentinel Automation Contributor role Sentinel needs to run the playbook, on the playbook\'s resource group (as Sentinel\'s docs require). Set false when it is granted there already (the portal\'s "Manage playbook permissions"): a second assignment of the same role fails with RoleAssignmentExists.')
param grantPlaybookPermission bool = true

@description('Optional. How the playbook authenticates to the webhook: entra (default; an app registration created through the Graph Bicep extension, the deployer needs Application.ReadWrite.All or Application Developer) or functionKey (set with infra/scripts/set-function-key.sh after the code is deployed).')
@allowed([ 'entra', 'functionKey' ])
param webhookAuth string = 'entra'

@description('Optional. With webhookAuth=functionKey: the function key the playbook sends (infra/scripts/set-function-key.sh passes it). Empty until the code is deployed.')
@secure()
param functionKey string = ''

@description('Optional. Hold users Identity Protection marks at risk (needs Entra ID P2; grants IdentityRiskyUser.Read.All). Set false without P2.')
param identityProtectionCheck bool = true

@description('Optional. Catalog-scoped mode: ids of the access package catalogs the app may manage. The app identity then gets no tenant-wide EntitlementManagement permission; give it the "Access package assignment manager" role on these catalogs with infra/scripts/grant-catalog-role.sh. Empty (default): tenant-wide.')
param accessPackageCatalogIds array = []

@description('Optional. NRT (near-real-time, default) or Scheduled (every 5 minutes) detection rule. Both rules are deployed; the other one is disabled.')
@allowed([ 'NRT', 'Scheduled' ])
param detectionMode string = 'NRT'

@description('Optional. Deploy the related Entra ID content: "Changes to PIM Settings" and the hunting queries.')
param deployRelatedContent bool = true

@description('Optional. dry-run (default: only comment what would be done) or enforce (reprocess and close). Start in dry-run and switch once the comments say what you expect (docs/deploy.md).')
@allowed([ 'enforce', 'dry-run' ])
param remediationMode string = 'dry-run'

@description('Optional. Object id of the Entra group whose members view the workbook (the SOC): Log Analytics Reader on the app\'s log workspace, where six of the workbook\'s seven charts read the decision records. Empty: grant it by hand (docs/workbook.md).')
param workbookViewersGroupId string = ''

@description('Optional. Resource tags.')
param tags object = {}

var suffix = uniqueString(resourceGroup().id, namePrefix)
// Resource names take letters, digits and hyphens; storage account names letters and digits only.
var prefixChars = map(range(0, length(namePrefix)), i => substring(toLower(namePrefix), i, 1))
var namePart = join(filter(prefixChars, c => contains('abcdefghijklmnopqrstuvwxyz0123456789-', c)), '')
var storagePrefix = replace(namePart, '-', '')
var baseName = '${namePart}-${suffix}'
var detectionRuleName = loadYamlContent('content/rules/user-removed-from-group.yaml', '$.id')
// The Scheduled variant is a rule of its own: Sentinel refuses to change a rule's kind in place.
var scheduledRuleName = loadYamlContent('content/rules/user-removed-from-group-scheduled.yaml', '$.id')
// Lost group ownership: its incidents restore the Owner role (SENTINEL_OWNER_RULE_IDS).
var ownerRuleName = loadYamlContent('content/rules/user-removed-as-group-owner.yaml', '$.id')
var stateTableName = 'remediationstate'

// Every Graph call the app makes and the application permission it needs, from the table the code
// reads too (src/graphPermissions.json): the deployment grants exactly those. In catalog-scoped mode
// the entitlement-management calls need catalog roles instead (infra/scripts/grant-catalog-role.sh);
// without identityProtectionCheck the risk reads are never made.
var graphCalls = map(items(loadJsonContent('../src/graphPermissions.json', '$.calls')), call => call.value)
var graphPermissions = union(
  map(
    filter(graphCalls, call => (empty(accessPackageCatalogIds) || empty(call.?catalogRole)) && (identityProtectionCheck || call.?onlyWith != 'IDENTITY_PROTECTION_CHECK')),
    call => call.permission
  ),
  []
)

module hostIdentity 'modules/identity.bicep' = {
  name: 'hostIdentity'
  params: { name: 'id-host-${baseName}', location: location, tags: tags }
}

module appIdentity 'modules/identity.bicep' = {
  name: 'appIdentity'
  params: { name: 'id-${baseName}', location: location, tags: tags }
}

module playbookIdentity 'modules/identity.bicep' = {
  name: 'playbookIdentity'
  params: { name: 'id-pb-${baseName}', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take('st${storagePrefix}${suffix}', 24)
    location: location
    hostPrincipalId: hostIdentity.outputs.principalId
    appPrincipalId: appIdentity.outputs.principalId
    stateTableName: stateTableName
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { name: baseName, location: location, principalId: hostIdentity.outputs.principalId, viewersGroupId: workbookViewersGroupId, tags: tags }
}

module webhookApp 'modules/webhookApp.bicep' = if (webhookAuth == 'entra') {
  name: 'webhookApp'
  params: { uniqueName: 'func-${baseName}-webhook' }
}

module functionApp 'modules/functionApp.bicep' = {
  name: 'functionApp'
  params: {
    name: 'func-${baseName}'
    location: location
    hostIdentityId: hostIdentity.outputs.id
    hostIdentityClientId: hostIdentity.outputs.clientId
    appIdentityId: appIdentity.outputs.id
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsName: monitoring.outputs.appInsightsName
    webhookAppId: webhookAuth == 'entra' ? webhookApp!.outputs.appId : ''
    webhookCallerPrincipalId: playbookIdentity.outputs.principalId
    tags: tags
    // The settings the app reads (src/config.ts); the same names as local.settings.json.
    remediationSettings: union(
      {
        SENTINEL_SUBSCRIPTION_ID: subscription().subscriptionId
        SENTINEL_RESOURCE_GROUP: sentinelResourceGroupName
        SENTINEL_WORKSPACE_NAME: sentinelWorkspaceName
        // Only incidents of the detection rule are acted on (both variants; one is disabled).
        SENTINEL_RULE_IDS: '${detectionRuleName},${scheduledRuleName}'
        SENTINEL_OWNER_RULE_IDS: ownerRuleName
        REMEDIATION_MODE: remediationMode
        IDENTITY_PROTECTION_CHECK: identityProtectionCheck ? 'on' : 'off'
        ACCESS_PACKAGE_CATALOG_IDS: join(accessPackageCatalogIds, ',')
        STATE_TABLE_ENDPOINT: storage.outputs.tableEndpoint
        STATE_TABLE_NAME: stateTableName
        AZURE_CLIENT_ID: appIdentity.outputs.clientId
      },
      // Entra ID mode: the code validates the caller's token itself (issuer, audience, oid, role).
      webhookAuth == 'entra'
        ? { WEBHOOK_ALLOWED_CALLER: playbookIdentity.outputs.principalId, WEBHOOK_APP_ID: webhookApp!.outputs.appId, WEBHOOK_TENANT_ID: tenant().tenantId }
        : {}
    )
  }
}

module sentinelAccess 'modules/sentinelAccess.bicep' = {
  name: 'sentinelAccess'
  scope: resourceGroup(sentinelResourceGroupName)
  params: { workspaceName: sentinelWorkspaceName, principalId: appIdentity.outputs.principalId, playbookPrincipalId: playbookIdentity.outputs.principalId }
}

// After the function app: by then Entra ID has had the minutes it needs to replicate the new
// identity, which a Graph app role assignment made seconds after creating it can miss.
module graphAppRoles 'modules/graphAppRole.bicep' = [for permission in graphPermissions: if (grantGraphPermission) {
  name: 'graphAppRole-${replace(permission, '.', '-')}'
  params: { principalId: appIdentity.outputs.principalId, appRoleValue: permission }
  dependsOn: [ functionApp ]
}]

// The playbook's identity is the one caller the webhook's app registration lets get a token. An app
// role assignment like the Graph ones: with grantGraphPermission=false a tenant admin makes it with
// infra/scripts/grant-graph-permission.sh --webhook (the WEBHOOK_* outputs below).
module webhookCaller 'modules/graphAppRole.bicep' = if (webhookAuth == 'entra' && grantGraphPermission) {
  name: 'webhookCaller'
  params: { principalId: playbookIdentity.outputs.principalId, resourceId: webhookApp!.outputs.servicePrincipalId, appRoleId: webhookApp!.outputs.appRoleId, appRoleValue: webhookApp!.outputs.appRoleValue }
  dependsOn: [ functionApp ]
}

module playbook 'modules/playbook.bicep' = {
  name: 'playbook'
  params: {
    name: 'pb-${baseName}'
    location: location
    identityId: playbookIdentity.outputs.id
    webhookUrl: functionApp.outputs.webhookUrl
    webhookAudience: webhookAuth == 'entra' ? webhookApp!.outputs.appId : ''
    functionKey: functionKey
    tags: tags
  }
}

// First thing in the deployment (it needs nothing else), so that Sentinel's right to run the
// playbook has had minutes to take effect when the automation rule that uses it is created.
module playbookRunPermission 'modules/playbookRunPermission.bicep' = if (grantPlaybookPermission) {
  name: 'playbookRunPermission'
  params: { securityInsightsPrincipalId: securityInsightsPrincipalId }
}

module detection 'modules/detection.bicep' = {
  name: 'detection'
  scope: resourceGroup(sentinelResourceGroupName)
  params: {
    workspaceName: sentinelWorkspaceName
    playbookId: playbook.outputs.id
    remediationPrincipalId: appIdentity.outputs.principalId
    detectionMode: detectionMode
    deployRelatedContent: deployRelatedContent
  }
  // The automation rule runs the playbook: only after Sentinel may run it.
  dependsOn: [ playbookRunPermission ]
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: resourceGroup(sentinelResourceGroupName)
  params: {
    workspaceName: sentinelWorkspaceName
    location: location
    appLogsWorkspaceId: monitoring.outputs.logsWorkspaceId
    ruleIds: [detectionRuleName, scheduledRuleName, ownerRuleName]
    tags: tags
  }
}

@description('Name of the function app (deploy the code with: func azure functionapp publish <name>, or azd deploy).')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Client id of the app identity (AZURE_CLIENT_ID).')
output AZURE_CLIENT_ID string = appIdentity.outputs.clientId

@description('Object id of the app identity: grant it the Graph permissions with infra/scripts/grant-graph-permission.sh when grantGraphPermission is false.')
output IDENTITY_PRINCIPAL_ID string = appIdentity.outputs.principalId

@description('Graph application permissions the app identity needs (space-separated), for infra/scripts/grant-graph-permission.sh.')
output GRAPH_PERMISSIONS string = join(graphPermissions, ' ')

@description('Application (client) id of the webhook\'s app registration; empty with webhookAuth=functionKey.')
output WEBHOOK_APP_ID string = webhookAuth == 'entra' ? webhookApp!.outputs.appId : ''

@description('Object id of the playbook\'s identity, the webhook\'s one caller (grant-graph-permission.sh --webhook).')
output WEBHOOK_CALLER_PRINCIPAL_ID string = playbookIdentity.outputs.principalId

@description('Object id of the webhook\'s service principal; empty with webhookAuth=functionKey (grant-graph-permission.sh --webhook).')
output WEBHOOK_SERVICE_PRINCIPAL_ID string = webhookAuth == 'entra' ? webhookApp!.outputs.servicePrincipalId : ''

@description('Id of the webhook\'s app role Webhook.Invoke; empty with webhookAuth=functionKey (grant-graph-permission.sh --webhook).')
output WEBHOOK_APP_ROLE_ID string = webhookAuth == 'entra' ? webhookApp!.outputs.appRoleId : ''

@description('Resource id of the detection rule whose incidents are remediated.')
output DETECTION_RULE_ID string = detection.outputs.detectionRuleId

@description('Resource id of the playbook.')
output PLAYBOOK_ID string = playbook.outputs.id
