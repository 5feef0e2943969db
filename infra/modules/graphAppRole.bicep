// Grants the identity the Microsoft Graph application permission it needs, through the
// Microsoft Graph Bicep extension. The deployer needs AppRoleAssignment.ReadWrite.All and
// Application.Read.All (e.g. Privileged Role Administrator); without them, set
// grantGraphPermission=false and run infra/scripts/grant-graph-permission.sh instead.
extension microsoftGraphV1

@description('Required. Object id of the function app identity.')
param principalId string

@description('Optional. Graph application permission to grant.')
param appRoleValue string = 'EntitlementManagement.ReadWrite.All'

// Microsoft Graph's well-known application id.
var graphAppId = '00000003-0000-0000-c000-000000000000'

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource assignment 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: principalId
  resourceId: graph.id
  appRoleId: filter(graph.appRoles, role => role.value == appRoleValue)[0].id
}

@description('Id of the app role granted.')
output appRoleId string = assignment.appRoleId
