// Deployed to the Sentinel workspace's resource group: the detection rule, the automation rule
// that runs the playbook, and the related Entra ID content. Rules and queries are read from
// infra/content/*.yaml (Azure-Sentinel content format); no KQL lives in this file.

@description('Required. Name of the Sentinel (Log Analytics) workspace in this resource group.')
param workspaceName string

@description('Required. Resource id of the playbook the automation rule runs.')
param playbookId string

@description('Required. Object id of the function app identity (shown by the remediation hunting query).')
param remediationPrincipalId string

@description('Optional. NRT (near-real-time, every minute) or Scheduled (every 5 minutes). Both rules are deployed, the other one disabled: Sentinel refuses to change a rule\'s kind in place.')
@allowed([ 'NRT', 'Scheduled' ])
param detectionMode string = 'NRT'


@description('Optional. Also deploy the related Entra ID rule and hunting queries.')
param deployRelatedContent bool = true

var detection = loadYamlContent('../content/rules/user-removed-from-group.yaml')
var scheduledDetection = loadYamlContent('../content/rules/user-removed-from-group-scheduled.yaml')
var ownerDetection = loadYamlContent('../content/rules/user-removed-as-group-owner.yaml')
var pimRule = loadYamlContent('../content/rules/changes-to-pim-settings.yaml')
var huntingQueries = [
  loadYamlContent('../content/hunting/approved-access-packages-details.yaml')
  loadYamlContent('../content/hunting/temporary-access-pass-created.yaml')
  loadYamlContent('../content/hunting/guest-account-privileged-operation.yaml')
  loadYamlContent('../content/hunting/users-readded-after-removal.yaml')
  loadYamlContent('../content/hunting/member-added-outside-access-package.yaml')
  loadYamlContent('../content/hunting/users-left-governed-groups.yaml')
  loadYamlContent('../content/hunting/owners-removed-from-governed-groups.yaml')
]

// The watchlist of actors whose removals are intended (SOC, identity admins, HR offboarding
// automation): the detection skips them. The watchlist API refuses a CSV with a header and no
// rows ("no watchlist items found in the provided rawContent"), so it is deployed with one
// placeholder row whose ActorId (the all-zero GUID) matches no actor; add rows in Sentinel →
// Watchlists. The rules do not depend on it: _GetWatchlist of a missing watchlist returns no
// rows, so a watchlist failure cannot take the rules down with it.
var exemptionsAlias = 'AccessRemovalExemptions'
var exemptionPlaceholder = '00000000-0000-0000-0000-000000000000,(placeholder),Keeps the watchlist non-empty; matches no actor'

// The system actors (content/system-actors.yaml): the one list every query uses, inlined as KQL
// dynamic arrays (NRT rules cannot call a saved function).
var systemActors = loadYamlContent('../content/system-actors.yaml').actors
var governanceActors = filter(systemActors, a => a.?governance ?? false)
var actorLists = {
  appIds: string(filter(map(systemActors, a => a.?appId ?? ''), id => !empty(id)))
  names: string(flatten(map(systemActors, a => a.displayNames)))
  governanceAppIds: string(filter(map(governanceActors, a => a.?appId ?? ''), id => !empty(id)))
  governanceNames: string(flatten(map(governanceActors, a => a.displayNames)))
}

// A query as deployed: the remediation app's identity (its own actions are never alerts) and the system actors.
func deployedQuery(query string, principalId string, actors object) string =>
  replace(
    replace(
      replace(
        replace(replace(query, '__REMEDIATION_PRINCIPAL_ID__', principalId), '["__SYSTEM_ACTOR_APP_IDS__"]', actors.appIds),
        '["__SYSTEM_ACTOR_NAMES__"]',
        actors.names
      ),
      '["__GOVERNANCE_APP_IDS__"]',
      actors.governanceAppIds
    ),
    '["__GOVERNANCE_NAMES__"]',
    actors.governanceNames
  )

var triggerOperators = { gt: 'GreaterThan', lt: 'LessThan', eq: 'Equal', ne: 'NotEqual' }

// '5m' → 'PT5M', '1h' → 'PT1H', '1d' → 'P1D' (content files use the Azure-Sentinel short form).
func isoDuration(value string) string => endsWith(value, 'd') ? 'P${toUpper(value)}' : 'PT${toUpper(value)}'

// Stable GA api-versions accept parent techniques only (T1078, not T1078.004).
func parentTechniques(techniques array) array => union(map(techniques, t => split(t, '.')[0]), [])

// One alert, one incident per removal: the incident carries exactly one user and one group.
var incidentPerAlert = {
  createIncident: true
  groupingConfiguration: {
    enabled: false
    reopenClosedIncident: false
    lookbackDuration: 'PT5H'
    matchingMethod: 'AllEntities'
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

resource exemptions 'Microsoft.SecurityInsights/watchlists@2025-09-01' = {
  scope: workspace
  name: exemptionsAlias
  properties: {
    displayName: 'Access removal exemptions'
    description: 'Actors whose removals of users from groups or app roles are intended (SOC containment, identity admins, HR offboarding automation). The detection "${detection.name}" skips them. ActorId: object id of the user or service principal.'
    provider: 'Access package remediation'
    source: 'AccessRemovalExemptions.csv'
    itemsSearchKey: 'ActorId'
    contentType: 'text/csv'
    numberOfLinesToSkip: 0
    rawContent: 'ActorId,ActorName,Reason\r\n${exemptionPlaceholder}\r\n'
  }
}

// Near-real-time rules exist only in preview api-versions.
resource nrtRule 'Microsoft.SecurityInsights/alertRules@2025-10-01-preview' = {
  scope: workspace
  name: detection.id
  kind: 'NRT'
  properties: {
    displayName: detection.name
    description: detection.description
    severity: detection.severity
    enabled: detectionMode == 'NRT'
    query: deployedQuery(detection.query, remediationPrincipalId, actorLists)
    tactics: detection.tactics
    techniques: parentTechniques(detection.relevantTechniques)
    subTechniques: filter(detection.relevantTechniques, t => contains(t, '.'))
    entityMappings: detection.entityMappings
    customDetails: detection.customDetails
    alertDetailsOverride: detection.alertDetailsOverride
    suppressionDuration: 'PT5H'
    suppressionEnabled: false
    eventGroupingSettings: { aggregationKind: 'AlertPerResult' }
    incidentConfiguration: incidentPerAlert
  }
}

resource scheduledRule 'Microsoft.SecurityInsights/alertRules@2025-09-01' = {
  scope: workspace
  name: scheduledDetection.id
  kind: 'Scheduled'
  properties: {
    displayName: scheduledDetection.name
    description: scheduledDetection.description
    severity: scheduledDetection.severity
    enabled: detectionMode == 'Scheduled'
    query: deployedQuery(scheduledDetection.query, remediationPrincipalId, actorLists)
    queryFrequency: isoDuration(scheduledDetection.queryFrequency)
    queryPeriod: isoDuration(scheduledDetection.queryPeriod)
    triggerOperator: triggerOperators[scheduledDetection.triggerOperator]
    triggerThreshold: scheduledDetection.triggerThreshold
    tactics: scheduledDetection.tactics
    techniques: parentTechniques(scheduledDetection.relevantTechniques)
    entityMappings: scheduledDetection.entityMappings
    customDetails: scheduledDetection.customDetails
    alertDetailsOverride: scheduledDetection.alertDetailsOverride
    suppressionDuration: 'PT5H'
    suppressionEnabled: false
    eventGroupingSettings: { aggregationKind: 'AlertPerResult' }
    incidentConfiguration: incidentPerAlert
  }
}

// Lost ownership has its own rule (the app restores the Owner role for its incidents). It is NRT
// only: in Scheduled mode it is deployed disabled, and the hunting query "Owners removed from
// governed groups" reports ownership removals instead.
resource ownerRule 'Microsoft.SecurityInsights/alertRules@2025-10-01-preview' = {
  scope: workspace
  name: ownerDetection.id
  kind: 'NRT'
  properties: {
    displayName: ownerDetection.name
    description: ownerDetection.description
    severity: ownerDetection.severity
    enabled: detectionMode == 'NRT'
    query: deployedQuery(ownerDetection.query, remediationPrincipalId, actorLists)
    tactics: ownerDetection.tactics
    techniques: parentTechniques(ownerDetection.relevantTechniques)
    subTechniques: filter(ownerDetection.relevantTechniques, t => contains(t, '.'))
    entityMappings: ownerDetection.entityMappings
    customDetails: ownerDetection.customDetails
    alertDetailsOverride: ownerDetection.alertDetailsOverride
    suppressionDuration: 'PT5H'
    suppressionEnabled: false
    eventGroupingSettings: { aggregationKind: 'AlertPerResult' }
    incidentConfiguration: incidentPerAlert
  }
}

var detectionRuleId = detectionMode == 'NRT' ? nrtRule.id : scheduledRule.id

resource runPlaybook 'Microsoft.SecurityInsights/automationRules@2025-09-01' = {
  scope: workspace
  name: guid(workspace.id, detection.id, 'run-remediation-playbook')
  properties: {
    displayName: 'Restore access package access: ${detection.name}'
    order: 1
    triggeringLogic: {
      isEnabled: true
      triggersOn: 'Incidents'
      triggersWhen: 'Created'
      conditions: [
        {
          conditionType: 'Property'
          conditionProperties: {
            propertyName: 'IncidentRelatedAnalyticRuleIds'
            operator: 'Contains'
            propertyValues: [ nrtRule.id, scheduledRule.id, ownerRule.id ]
          }
        }
      ]
    }
    actions: [
      {
        order: 1
        actionType: 'RunPlaybook'
        actionConfiguration: {
          logicAppResourceId: playbookId
          tenantId: tenant().tenantId
        }
      }
    ]
  }
}

resource pimSettingsRule 'Microsoft.SecurityInsights/alertRules@2025-09-01' = if (deployRelatedContent) {
  scope: workspace
  name: pimRule.id
  kind: 'Scheduled'
  properties: {
    // Linked to its Content Hub template, so Sentinel offers the template's updates.
    alertRuleTemplateName: pimRule.id
    templateVersion: pimRule.version
    displayName: pimRule.name
    description: pimRule.description
    severity: pimRule.severity
    enabled: true
    query: pimRule.query
    queryFrequency: isoDuration(pimRule.queryFrequency)
    queryPeriod: isoDuration(pimRule.queryPeriod)
    triggerOperator: triggerOperators[pimRule.triggerOperator]
    triggerThreshold: pimRule.triggerThreshold
    tactics: pimRule.tactics
    techniques: parentTechniques(pimRule.relevantTechniques)
    entityMappings: pimRule.entityMappings
    suppressionDuration: 'PT5H'
    suppressionEnabled: false
    eventGroupingSettings: { aggregationKind: 'SingleAlert' }
    incidentConfiguration: incidentPerAlert
  }
}

resource hunting 'Microsoft.OperationalInsights/workspaces/savedSearches@2025-02-01' = [for q in huntingQueries: if (deployRelatedContent) {
  parent: workspace
  name: q.id
  properties: {
    // A saved search deployed again without an etag answers 409 Conflict, so the second
    // deployment (azd provision to switch to enforce, a re-run) would fail; ARM takes the etag
    // only inside properties (MicrosoftDocs/azure-docs#49275, Azure/bicep-types-az#1499), where
    // the type data does not list it.
    #disable-next-line BCP037
    etag: '*'
    category: 'Hunting Queries'
    displayName: q.name
    query: deployedQuery(q.query, remediationPrincipalId, actorLists)
    version: 2
    tags: [
      { name: 'description', value: q.description }
      { name: 'tactics', value: join(q.tactics, ',') }
      { name: 'techniques', value: join(q.relevantTechniques, ',') }
    ]
  }
}]

@description('Resource id of the detection rule whose incidents run the playbook.')
output detectionRuleId string = detectionRuleId

@description('Resource id of the owner-removal rule (its incidents are about group ownership).')
output ownerRuleId string = ownerRule.id

@description('Resource id of the automation rule.')
output automationRuleId string = runPlaybook.id
