// The workbook "Access package remediation", deployed to the Sentinel workspace's resource group
// and shown in Sentinel → Workbooks (My workbooks). It reads the app's decision records from the
// Log Analytics workspace of its Application Insights (a cross-workspace query), and AuditLogs
// and SecurityIncident from the Sentinel workspace. The workbook itself is
// infra/content/workbooks/access-package-remediation.json; docs/workbook.md describes it.

@description('Required. Name of the Sentinel (Log Analytics) workspace in this resource group.')
param workspaceName string

@description('Required. Azure region.')
param location string

@description('Required. Resource id of the Log Analytics workspace of the app\'s Application Insights (its decision records).')
param appLogsWorkspaceId string

@description('Required. The analytics rule ids whose incidents the app acts on.')
param ruleIds array

@description('Optional. Resource tags.')
param tags object = {}

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

var template = loadTextContent('../content/workbooks/access-package-remediation.json')

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name is a GUID: one per workspace, so that a redeployment updates it.
  name: guid(workspace.id, 'access-package-remediation-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Access package remediation'
    category: 'sentinel'
    sourceId: workspace.id
    version: 'Notebook/1.0'
    serializedData: replace(
      replace(replace(template, '__SENTINEL_WORKSPACE_ID__', workspace.id), '__APP_LOGS_WORKSPACE_ID__', appLogsWorkspaceId),
      '__RULE_IDS__',
      join(ruleIds, ',')
    )
  }
}

@description('Resource id of the workbook.')
output workbookId string = workbook.id
