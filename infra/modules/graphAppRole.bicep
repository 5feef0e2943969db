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

@description('Optional. Object id of the resource app\'s service principal and the app role\'s id, when the caller made them in this deployment: passed in, not looked up again right after creation (Entra ID replicates new objects with a delay). Empty: both looked up by resourceAppId and appRoleValue.')
param resourceId string = ''

@description('Optional. With resourceId: the id of the app role.')
param appRoleId string = ''

resource resourceApp 'Microsoft.Graph/servicePrincipals@v1.0' existing = if (empty(resourceId)) {
  appId: resourceAppId
}

resource assignment 'Microsoft.Graph/appRoleAssignedTo@v1.0' = {
  principalId: principalId
  resourceId: empty(resourceId) ? resourceApp!.id : resourceId
  appRoleId: empty(resourceId) ? filter(resourceApp!.appRoles, role => role.value == appRoleValue)[0].id : appRoleId
}

@description('Id of the app role granted.')
output appRoleId string = assignment.appRoleId
