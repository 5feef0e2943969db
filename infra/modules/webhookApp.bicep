// The webhook's Entra ID app registration (Microsoft Graph Bicep extension): the audience of the
// tokens App Service authentication accepts. Only identities assigned its one app role can get a
// token for it; main.bicep assigns it to the playbook's identity (graphAppRole.bicep). The
// deployer needs Application.ReadWrite.All (e.g. Application Developer).
extension microsoftGraphV1

@description('Required. Unique name of the app registration (stable across redeployments).')
param uniqueName string

// Stable across redeployments: the role must keep its id once assigned.
var invokeRoleId = guid(uniqueName, 'Webhook.Invoke')

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: 'Access package remediation webhook (${uniqueName})'
  signInAudience: 'AzureADMyOrg'
  // v2 tokens: issuer https://login.microsoftonline.com/<tenant>/v2.0, audience the client id.
  api: { requestedAccessTokenVersion: 2 }
  appRoles: [
    {
      id: invokeRoleId
      value: 'Webhook.Invoke'
      displayName: 'Call the remediation webhook'
      description: 'Lets the playbook call the access package remediation webhook.'
      allowedMemberTypes: [ 'Application' ]
      isEnabled: true
    }
  ]
}

resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
  // Entra ID issues tokens for this app only to identities assigned its role.
  appRoleAssignmentRequired: true
}

@description('Application (client) id of the app registration: the token audience.')
output appId string = servicePrincipal.appId

@description('Value of the app role the caller is assigned.')
output appRoleValue string = 'Webhook.Invoke'

@description('Object id of the app registration\'s service principal: the resource of the caller\'s role assignment.')
output servicePrincipalId string = servicePrincipal.id

@description('Id of the app role the caller is assigned.')
output appRoleId string = invokeRoleId
