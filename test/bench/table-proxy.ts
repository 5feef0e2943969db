/**
 * A pass-through in front of Azurite that logs each state-table request with the same clock as
 * the fake tenant's log (epoch milliseconds), so that the benchmark's round trips count the table
 * calls too: on Azure they are requests to the app's storage account. GET /_proxy/requests returns
 * the log; POST /_proxy/requests/clear empties it.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { RecordedRequest } from "../fake-tenant/server";

const clock = () => performance.timeOrigin + performance.now();

export async function startTableProxy(target: URL): Promise<{ url: string; close: () => Promise<void> }> {
  const log: Omit<RecordedRequest, "service">[] = [];
  let seq = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith("/_proxy/")) {
      if (req.method === "POST") log.length = 0;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(req.method === "POST" ? [] : log.map((r) => ({ ...r, service: "table" }))));
      return;
    }
    const start = clock();
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on("end", () => {
          const url = new URL(req.url ?? "/", "http://proxy");
          log.push({
            seq: ++seq,
            method: req.method ?? "GET",
            path: url.pathname,
            query: {},
            status: answer.statusCode ?? 0,
            start,
            end: clock(),
          });
        });
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
