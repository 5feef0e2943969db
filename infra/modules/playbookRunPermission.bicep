// Lets Sentinel run the playbooks of this resource group: Sentinel runs them as its own service
// principal ("Azure Security Insights"), which needs Microsoft Sentinel Automation Contributor on
// the playbook's resource group (Sentinel's docs; a grant on the workflow alone is not what
// Sentinel checks). A module of its own with no inputs from other resources, so that the
// deployment makes it first, minutes before the automation rule that runs the playbook (which
// Sentinel refuses while it cannot run the playbook). The portal's "Manage playbook permissions"
// makes the same assignment: with it in place, deploy with grantPlaybookPermission=false (a second
// one fails with RoleAssignmentExists).

@description('Required. Object id of the "Azure Security Insights" service principal (appId 98785600-1bb7-4fb9-b9fa-19afe2c8a360) in this tenant.')
param securityInsightsPrincipalId string

var sentinelAutomationContributor = 'f4c81013-99ee-4d62-a7ee-b3f1f648599a'

resource sentinelCanRunPlaybook 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, securityInsightsPrincipalId, sentinelAutomationContributor)
  properties: {
    principalId: securityInsightsPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelAutomationContributor)
  }
}

@description('Resource id of the role assignment.')
output id string = sentinelCanRunPlaybook.id
