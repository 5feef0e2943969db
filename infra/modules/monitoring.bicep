// Application Insights with local (key) authentication off, on its own Log Analytics workspace.

@description('Required. Name prefix for the workspace and the component.')
param name string

@description('Required. Azure region.')
param location string

@description('Required. Object id of the identity that gets Monitoring Metrics Publisher.')
param principalId string

@description('Optional. Object id of an Entra group (the SOC) that may read this workspace: Log Analytics Reader, which the workbook\'s charts on decision records need. Empty: none granted.')
param viewersGroupId string = ''

@description('Optional. Resource tags.')
param tags object = {}

var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var logAnalyticsReader = '73c42c96-874c-492b-b04d-ab87d138a893'

resource logs 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: 'log-${name}'
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: { name: 'PerGB2018' }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${name}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

resource viewers 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(viewersGroupId)) {
  name: guid(logs.id, viewersGroupId, logAnalyticsReader)
  scope: logs
  properties: {
    principalId: viewersGroupId
    principalType: 'Group'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReader)
  }
}

// The connection string is read where it is used (functionApp.bicep, by name): no output carries it.
@description('Resource id of the Log Analytics workspace behind Application Insights (the workbook reads the app\'s decision records there).')
output logsWorkspaceId string = logs.id

@description('Name of the Application Insights component.')
output appInsightsName string = appInsights.name
