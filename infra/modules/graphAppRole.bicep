// Assigns an application permission (an app role of a resource app, Microsoft Graph by default)
// to a service principal, through the Microsoft Graph Bicep extension. The deployer needs
// AppRoleAssignment.ReadWrite.All and Application.Read.All (e.g. Privileged Role Administrator);
// without them, set grantGraphPermission=false and run infra/scripts/grant-graph-permission.sh.
extension microsoftGraphV1

@description('Required. Object id of the service principal that gets the role.')
param principalId string

@description('Required. Value of the app role, e.g. EntitlementManagement.ReadWrite.All.')
param appRoleValue string

@description('Optional. Application id of the resource app. Default: Microsoft Graph.')
param resourceAppId string = '00000003-0000-0000-c000-000000000000'

resource resourceApp 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: resourceAppId
}

resource assignment 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: principalId
  resourceId: resourceApp.id
  appRoleId: filter(resourceApp.appRoles, role => role.value == appRoleValue)[0].id
}

@description('Id of the app role granted.')
output appRoleId string = assignment.appRoleId
