// Keyless storage: the Functions host and the Flex Consumption deployment package (host identity),
// and the app's one state table (app identity, on that table only).

@description('Required. Storage account name (3-24 lower-case letters and digits).')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Object id of the host identity (loads the code, runs the Functions host): Storage Blob Data Owner.')
param hostPrincipalId string

@description('Required. Object id of the app identity: Storage Table Data Contributor on the state table only.')
param appPrincipalId string

@description('Required. Name of the app\'s state table (STATE_TABLE_NAME).')
param stateTableName string

@description('Optional. Resource tags.')
param tags object = {}

// Blob container that holds the deployment package.
var deploymentContainerName = 'deploymentpackage'

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-06-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-06-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-06-01' = {
  parent: storage
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-06-01' = {
  parent: tableService
  name: stateTableName
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, hostPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stateTable.id, appPrincipalId, storageTableDataContributor)
  scope: stateTable
  properties: {
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

@description('Table endpoint of the storage account (STATE_TABLE_ENDPOINT of the app).')
output tableEndpoint string = storage.properties.primaryEndpoints.table

@description('Name of the storage account.')
output name string = storage.name

@description('URL of the deployment package container.')
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
