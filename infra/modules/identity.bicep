// User-assigned managed identity the function app runs as.

@description('Required. Name of the identity.')
param name string

@description('Required. Azure region.')
param location string

@description('Optional. Resource tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id

@description('Object (principal) id of the identity, used in role and app role assignments.')
output principalId string = identity.properties.principalId

@description('Client id of the identity, given to the app as AZURE_CLIENT_ID.')
output clientId string = identity.properties.clientId
