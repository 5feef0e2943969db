// Deployed to the Sentinel workspace's resource group, roles on the workspace only: the app's
// identity reads incidents and entities, comments and closes (Microsoft Sentinel Responder); the
// playbook's identity runs the Sentinel connector's incident trigger, which needs Microsoft
// Sentinel Reader ("Supported triggers and actions in Microsoft Sentinel playbooks"; the playbook
// changes nothing in Sentinel itself).

@description('Required. Name of the Sentinel (Log Analytics) workspace in this resource group.')
param workspaceName string

@description('Required. Object id of the function app identity.')
param principalId string

@description('Required. Object id of the playbook\'s identity.')
param playbookPrincipalId string

var sentinelResponder = '3e150937-b8fe-4cfb-8069-0eaf05ecd056'
var sentinelReader = '8d289c81-5878-46d4-8554-54e1e3d8b5cb'

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

resource playbookReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, playbookPrincipalId, sentinelReader)
  scope: workspace
  properties: {
    principalId: playbookPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelReader)
  }
}

@description('Resource id of the Sentinel workspace.')
output workspaceId string = workspace.id
