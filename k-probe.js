require('@kusto/language-service-next/bridge.js'); require('@kusto/language-service-next');
const K = Kusto.Language;
const S = K.Symbols;
const table = new S.TableSymbol.$ctor7("AuditLogs", "(TimeGenerated:datetime, OperationName:string, TargetResources:dynamic)", null);
const db = new S.DatabaseSymbol.$ctor3("ws", null, [table], false);
const globals = K.GlobalState.Default.WithDatabase(db);
const code = K.KustoCode.ParseAndAnalyze('AuditLogs | where OperationName == "x" | extend U = tostring(TargetResources[0].id) | project TimeGenerated, U, Nope', globals);
const diags = code.GetDiagnostics();
for (let i = 0; i < diags.Count; i++) { const d = diags.getItem(i); console.log(d.Severity, d.Message, d.Start); }
const rt = code.ResultType;
if (rt && rt.Columns) for (let i=0;i<rt.Columns.Count;i++) console.log(rt.Columns.getItem(i).Name, rt.Columns.getItem(i).Type.Name);
