import { runSchedule } from "./simulate";
import { FakeTenant } from "../fake-tenant/server";
import { stableId } from "../../src/core/report";
const orig = FakeTenant.prototype.fetchAs;
let fakeRef: FakeTenant | undefined;
FakeTenant.prototype.fetchAs = function (caller: string) { fakeRef = this; const f = orig.call(this, caller);
  return async (input: any, init: any) => { const req = new Request(input, init); const res = await f(input, init);
    if (req.method === "PUT" && req.url.includes("/comments/")) { const body = JSON.parse(init.body ?? "{}"); console.log(caller, "comment", req.url.slice(-36), res.status, String(body.properties?.message).slice(40, 90)); }
    return res; }; };
(async () => { const r = await runSchedule(Number(process.argv[2])); const inc = [...fakeRef!.incidents.values()][0]!;
  for (let n = 1; n < 6; n++) console.log(n, stableId(inc.name, "update", String(n)));
  console.log(r.violations); })();
