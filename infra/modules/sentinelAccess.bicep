// Deployed to the Sentinel workspace's resource group: lets the app's identity read incidents
// and entities, comment and close (Microsoft Sentinel Responder on the workspace only).

@description('Required. Name of the Sentinel (Log Analytics) workspace in this resource group.')
param workspaceName string

@description('Required. Object id of the function app identity.')
param principalId string

var sentinelResponder = '3e150937-b8fe-4cfb-8069-0eaf05ecd056'

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

resource responder 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, sentinelResponder)
  scope: workspace
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelResponder)
  }
}

@description('Resource id of the Sentinel workspace.')
output workspaceId string = workspace.id
