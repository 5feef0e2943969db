/**
 * A stand-in for the three services the app talks to, on loopback over HTTPS:
 *
 * - login: Entra ID token endpoint (OpenID configuration + client-credentials token)
 * - graph: Microsoft Graph v1.0 entitlement management (assignments, access packages, reprocess)
 * - arm:   Microsoft Sentinel incidents through Azure Resource Manager
 *
 * Each runs on its own port so tokens can be checked for the right audience. It behaves like the
 * real services where their documentation says how; where it has to guess, a comment says so.
 * Every request is recorded (method, path, status, timings; never headers or bodies).
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ensureCertificate, type TlsMaterial } from "./cert";
import { parseFault, parseScenario, type Fault, type FaultInput, type Scenario, type ScenarioInput } from "./scenario";

export type Service = "login" | "graph" | "arm";

export interface RecordedRequest {
  seq: number;
  service: Service;
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
  /** Epoch milliseconds, sub-millisecond (performance.timeOrigin + performance.now()). */
  start: number;
  end: number;
}

/** One request served in process (FakeTenant.inProcess). */
export interface InProcessCall {
  caller: string;
  service: Service;
  method: string;
  url: URL;
  body: string;
}

export interface FakeTenantOptions {
  scenario: ScenarioInput | Scenario;
  /** Fixed ports (default: any free port). */
  ports?: Partial<Record<Service, number>>;
  tls?: TlsMaterial;
}

interface IncidentRecord {
  name: string;
  number: number;
  title: string;
  severity: string;
  status: string;
  classification?: string;
  classificationReason?: string;
  classificationComment?: string;
  ruleIds: string[];
  /** additionalData.alertProductNames: the products of the incident's alerts. */
  productNames: string[];
  listsProducts: boolean;
  alertsCount?: number;
  description?: string;
  owner?: Record<string, unknown>;
  labels: { labelName: string; labelType: string }[];
  entities: { kind: string; properties: Record<string, unknown> }[];
  etag: string;
  createdTimeUtc: string;
  lastModifiedTimeUtc: string;
  comments: Map<string, { message: string; createdTimeUtc: string; lastModifiedTimeUtc: string; etag: string }>;
}

/** Azure resource names compare case-insensitively. */
const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

const ARM_API_VERSIONS = new Set(["2024-09-01", "2025-06-01", "2025-09-01", "2022-09-01-preview", "2025-10-01-preview"]);

export class FakeTenant {
  readonly scenario: Scenario;
  readonly requests: RecordedRequest[] = [];
  /** Application role holders: service principal id → user ids (reprocess of a package granting the app adds the user). */
  readonly appRoleHolders = new Map<string, Set<string>>();
  /** The fake app registration that may obtain tokens (secret made fresh on every start). */
  readonly clientId = randomUUID();
  readonly clientSecret = randomBytes(24).toString("base64url");
  readonly incidents = new Map<string, IncidentRecord>();
  /** The tenant's token signing key (published at the OpenID configuration's jwks_uri) and its id. */
  private signingKey: { kid: string; publicKey: KeyObject; privateKey: KeyObject } | undefined;
  /** Made on first use: most runs never ask for a webhook token or the published keys. */
  private get signing() {
    this.signingKey ??= { kid: randomUUID(), ...generateKeyPairSync("rsa", { modulusLength: 2048 }) };
    return this.signingKey;
  }
  /** group id → member user ids */
  readonly members = new Map<string, Set<string>>();
  /** group id → owner user ids */
  readonly owners = new Map<string, Set<string>>();
  /** assignment id → number of accepted reprocess calls */
  readonly reprocessed = new Map<string, number>();
  readonly urls = {} as Record<Service, string>;
  latencyMs: number;

  private readonly faults: (Fault & { left: number })[] = [];
  private readonly triggers: { service: Service; method?: string; path: RegExp; action: () => void; left: number }[] = [];
  private readonly byUser = new Map<string, Scenario["assignments"]>();
  private readonly assignmentsById = new Map<string, Scenario["assignments"][number]>();
  private readonly packagesById = new Map<string, Scenario["accessPackages"][number]>();
  private readonly buckets = new Map<Service, { rate: number; capacity: number; tokens: number; at: number }>();
  private readonly tokens = new Map<string, { audience: string; expires: number; roles?: string[] }>();
  private readonly servers: Server[] = [];
  /** Request times are epoch milliseconds (sub-millisecond), comparable with other processes' logs. */
  private readonly t0 = -performance.timeOrigin;
  private seq = 0;

  private constructor(
    scenario: Scenario,
    readonly tls: TlsMaterial,
  ) {
    this.scenario = scenario;
    this.latencyMs = scenario.latencyMs;
    scenario.faults.forEach((f) => this.addFault(f));
    for (const p of scenario.accessPackages) this.packagesById.set(p.id.toLowerCase(), p);
    for (const a of scenario.assignments) {
      this.assignmentsById.set(a.id.toLowerCase(), a);
      const key = a.userId.toLowerCase();
      const list = this.byUser.get(key) ?? [];
      list.push(a);
      this.byUser.set(key, list);
    }
    this.setRateLimits(scenario.rateLimits);
    for (const g of scenario.groups) {
      this.members.set(g.id.toLowerCase(), new Set(g.members.map((m) => m.toLowerCase())));
      this.owners.set(g.id.toLowerCase(), new Set(g.owners.map((m) => m.toLowerCase())));
    }
    for (const i of scenario.incidents) {
      const created = new Date(Date.now() - i.createdMinutesAgo * 60_000).toISOString();
      this.incidents.set(i.name.toLowerCase(), {
        ...i,
        etag: `"${randomUUID()}"`,
        createdTimeUtc: created,
        lastModifiedTimeUtc:
          i.modifiedMinutesAgo !== undefined ? new Date(Date.now() - i.modifiedMinutesAgo * 60_000).toISOString() : created,
        comments: new Map(),
      });
    }
  }

  static async start(options: FakeTenantOptions): Promise<FakeTenant> {
    const tls = options.tls ?? (await ensureCertificate());
    const fake = new FakeTenant(parseScenario(options.scenario), tls);
    for (const service of ["login", "graph", "arm"] as const) {
      const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => void fake.handle(service, req, res));
      server.keepAliveTimeout = 5_000;
      await new Promise<void>((ok, fail) => {
        server.once("error", fail);
        server.listen(options.ports?.[service] ?? 0, "127.0.0.1", ok);
      });
      fake.servers.push(server);
      fake.urls[service] = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    return fake;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((ok) => {
            s.close(() => ok());
            s.closeAllConnections();
          }),
      ),
    );
  }

  /**
   * The fake without sockets, for the world simulation (test/sim): each service answers through
   * `fetchAs()` in this process, so that thousands of runs take seconds. Latency, stalls and
   * connection resets are the socket server's; status faults and triggers apply here too.
   */
  static inProcess(scenario: ScenarioInput | Scenario): FakeTenant {
    const fake = new FakeTenant(parseScenario(scenario), { certPath: "", cert: "", key: "" });
    for (const service of ["login", "graph", "arm"] as const) fake.urls[service] = `https://${service}.fake.invalid`;
    return fake;
  }

  /** Called before an in-process request is served (it may change the world, or throw to fail it). */
  beforeServe?: (call: InProcessCall) => void | Promise<void>;
  /** Called with each in-process answer. */
  afterServe?: (call: InProcessCall & { status: number; answer: unknown }) => void;

  /** A fetch served by this fake in process; `caller` names who calls (given to the hooks). */
  fetchAs(caller: string): typeof fetch {
    return async (input, init) => {
      const request = new Request(input, init);
      const url = new URL(request.url);
      const service = (["login", "graph", "arm"] as const).find((s) => this.urls[s] === url.origin);
      if (!service) throw new TypeError(`fetch failed: nothing serves ${url.origin}`);
      request.signal.throwIfAborted();
      const call: InProcessCall = { caller, service, method: request.method, url, body: await request.text() };
      await this.beforeServe?.(call);
      request.signal.throwIfAborted();
      const answer = this.serveInProcess(call, request.headers.get("authorization") ?? "");
      this.afterServe?.({ ...call, status: answer.status, answer: answer.body });
      request.signal.throwIfAborted();
      const text = answer.body === undefined ? null : JSON.stringify(answer.body);
      return new Response(text, {
        status: answer.status,
        headers: { ...(text !== null ? { "content-type": "application/json; charset=utf-8" } : {}), ...answer.headers },
      });
    };
  }

  private serveInProcess(call: InProcessCall, authorization: string): Answer {
    const { service, method, url, body } = call;
    const start = performance.now() - this.t0;
    this.fireTriggers(service, method, url.pathname);
    const fault = this.takeFault(service, method, url.pathname);
    let answer: Answer;
    try {
      answer =
        fault?.status !== undefined
          ? { status: fault.status, body: this.errorBody(service, fault.status, "Injected fault") }
          : this.route(service, method, url, body, authorization, fault);
    } catch (error) {
      answer = {
        status: 500,
        body: this.errorBody(service, 500, `Fake tenant error: ${error instanceof Error ? error.message : String(error)}`),
      };
    }
    this.record(service, method, url, answer.status, start);
    return answer;
  }

  /** Every request is recorded: method, path, status, timings; never headers or bodies. */
  private record(service: Service, method: string, url: URL, status: number, start: number): void {
    const end = performance.now() - this.t0;
    this.requests.push({
      seq: ++this.seq,
      service,
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status,
      start,
      end,
    });
  }

  private fireTriggers(service: Service, method: string, path: string): void {
    for (const t of this.triggers) {
      if (t.left > 0 && t.service === service && (t.method === undefined || t.method === method) && t.path.test(path)) {
        t.left--;
        t.action();
      }
    }
  }

  /** The app settings that point the app at this fake (same names as local.settings.json Values). */
  settings(): Record<string, string> {
    const { workspace } = this.scenario;
    return {
      SENTINEL_SUBSCRIPTION_ID: workspace.subscriptionId,
      SENTINEL_RESOURCE_GROUP: workspace.resourceGroup,
      SENTINEL_WORKSPACE_NAME: workspace.name,
      GRAPH_ENDPOINT: this.urls.graph,
      ARM_ENDPOINT: this.urls.arm,
      AZURE_AUTHORITY_HOST: this.urls.login,
      AZURE_TENANT_ID: this.scenario.tenantId,
      AZURE_CLIENT_ID: this.clientId,
      AZURE_CLIENT_SECRET: this.clientSecret,
      // The fake's login endpoint is not an Azure cloud's: the app accepts it only when told so.
      ALLOW_CUSTOM_AUTHORITY_HOST: "true",
      NODE_EXTRA_CA_CERTS: this.tls.certPath,
    };
  }

  /**
   * A v2 access token as Entra ID issues it to a managed identity for the webhook's app
   * registration (RS256, the tenant's published key). `claims` override the defaults; `signWith`
   * signs with another key (a forgery) under the published key id.
   */
  async webhookToken(
    claims: { aud: string; oid: string; roles?: string[]; iss?: string; expiresInSeconds?: number },
    signWith?: KeyObject,
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const expires = now + (claims.expiresInSeconds ?? 3600);
    const token = await new SignJWT({
      oid: claims.oid,
      tid: this.scenario.tenantId,
      roles: claims.roles ?? ["Webhook.Invoke"],
      azp: randomUUID(),
      ver: "2.0",
    })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: this.signing.kid })
      .setIssuer(claims.iss ?? `${this.urls.login}/${this.scenario.tenantId}/v2.0`)
      .setAudience(claims.aud)
      .setSubject(claims.oid)
      .setIssuedAt(Math.min(now, expires - 60))
      .setNotBefore(Math.min(now, expires - 60))
      .setExpirationTime(expires)
      .sign(signWith ?? this.signing.privateKey);
    this.tokens.set(token, { audience: claims.aud, expires: expires * 1000 });
    return token;
  }

  /** Every access token this fake has issued (for tests that check none leaks). */
  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  addFault(fault: FaultInput): void {
    const parsed = parseFault(fault);
    this.faults.push({ ...parsed, left: parsed.times === 0 ? Infinity : parsed.times });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /**
   * Runs `action` when a matching request arrives, before it is served (for tests of what
   * changes while the app works: an analyst's edit during the delivery wait, say).
   */
  when(match: { service: Service; method?: string; path: RegExp; times?: number }, action: () => void): void {
    this.triggers.push({ ...match, action, left: match.times ?? 1 });
  }

  /** An analyst's (or Defender's) edit of an incident: new etag and modification time. */
  editIncident(name: string, change: (incident: IncidentRecord) => void): void {
    const incident = this.incidents.get(name.toLowerCase());
    if (!incident) throw new Error(`no incident ${name} in the scenario`);
    change(incident);
    incident.etag = `"${randomUUID()}"`;
    incident.lastModifiedTimeUtc = new Date().toISOString();
  }

  /**
   * The incident trigger body Sentinel would send a playbook for this incident: the incident
   * resource plus, as Sentinel adds them, its related entities.
   */
  triggerBody(incidentName: string): Record<string, unknown> {
    const i = this.incidents.get(incidentName.toLowerCase());
    if (!i) throw new Error(`no incident ${incidentName} in the scenario`);
    const { workspace } = this.scenario;
    const resource = this.incidentResource(i);
    return {
      eventUniqueId: randomUUID(),
      objectSchemaType: "Incident",
      objectEventType: "Create",
      workspaceInfo: {
        SubscriptionId: workspace.subscriptionId,
        ResourceGroupName: workspace.resourceGroup,
        WorkspaceName: workspace.name,
      },
      workspaceId: randomUUID(),
      object: { ...resource, properties: { ...resource.properties, relatedEntities: this.entityResources(i) } },
    };
  }

  // ───────────────────────────── plumbing ─────────────────────────────

  private async handle(service: Service, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now() - this.t0;
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const method = req.method ?? "GET";
    let status = 500;
    try {
      const body = await readBody(req);
      this.fireTriggers(service, method, url.pathname);
      const fault = this.takeFault(service, method, url.pathname);
      const delay = (service === "login" ? 0 : this.latencyMs) + (fault?.latencyMs ?? 0);
      if (delay > 0) await sleep(delay);
      if (fault?.reset) {
        status = 0;
        req.socket.destroy();
        return;
      }
      const wait = this.takeToken(service);
      if (wait > 0) {
        // Over budget. Retry-After is whole seconds, as HTTP and Graph give it.
        status = 429;
        send(res, 429, this.errorBody(service, 429, "Too many requests"), { "retry-after": String(Math.ceil(wait / 1000)) });
      } else if (fault?.body !== undefined || fault?.stallMs !== undefined) {
        // An answer that is not what the docs describe: a raw body, or one that stalls mid-way.
        status = fault.status ?? 200;
        const text = fault.body ?? JSON.stringify({ value: [] });
        res.writeHead(status, { "content-type": fault.contentType ?? "application/json", "content-length": Buffer.byteLength(text) });
        if (fault.stallMs !== undefined) {
          res.write(text.slice(0, Math.floor(text.length / 2)));
          await untilClosed(res, fault.stallMs);
          if (!res.destroyed) res.end(text.slice(Math.floor(text.length / 2)));
        } else res.end(text);
      } else if (fault?.status !== undefined) {
        status = fault.status;
        const headers: Record<string, string> = fault.retryAfter !== undefined ? { "retry-after": String(fault.retryAfter) } : {};
        send(res, status, this.errorBody(service, status, "Injected fault"), headers);
      } else {
        const answer = this.route(service, method, url, body, req.headers.authorization ?? "", fault);
        status = answer.status;
        send(res, answer.status, answer.body, answer.headers);
      }
    } catch (error) {
      status = 500;
      send(res, 500, this.errorBody(service, 500, `Fake tenant error: ${error instanceof Error ? error.message : String(error)}`));
    } finally {
      this.record(service, method, url, status, start);
    }
  }

  setRateLimits(limits: Scenario["rateLimits"]): void {
    this.buckets.clear();
    for (const r of limits) {
      const capacity = r.burst ?? r.perSecond;
      this.buckets.set(r.service, { rate: r.perSecond, capacity, tokens: capacity, at: performance.now() });
    }
  }

  /** Token bucket: 0 when the request may go ahead, else milliseconds until a token is free. */
  private takeToken(service: Service): number {
    const b = this.buckets.get(service);
    if (!b) return 0;
    const now = performance.now();
    b.tokens = Math.min(b.capacity, b.tokens + ((now - b.at) / 1000) * b.rate);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return ((1 - b.tokens) / b.rate) * 1000;
  }

  private takeFault(service: Service, method: string, path: string): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (f.service === undefined || f.service === service) &&
        (f.method === undefined || f.method.toUpperCase() === method) &&
        (f.path === undefined || new RegExp(f.path, "i").test(path)),
    );
    if (fault) fault.left--;
    return fault;
  }

  private errorBody(service: Service, status: number, message: string): unknown {
    const code = status === 429 ? "TooManyRequests" : status >= 500 ? "ServiceUnavailable" : status === 404 ? "NotFound" : "BadRequest";
    if (service === "login") return { error: "server_error", error_description: message };
    if (service === "graph") {
      return {
        error: {
          code,
          message,
          innerError: { date: new Date().toISOString(), "request-id": randomUUID(), "client-request-id": randomUUID() },
        },
      };
    }
    return { error: { code, message } };
  }

  // ───────────────────────────── login ─────────────────────────────

  private login(method: string, url: URL, body: string): Answer {
    if (url.pathname.startsWith("/_fake/")) return this.control(method, url, body);
    const tenant = this.scenario.tenantId;
    const base = `${this.urls.login}/${tenant}`;
    const [, pathTenant, ...rest] = url.pathname.split("/");
    if (pathTenant?.toLowerCase() !== tenant.toLowerCase()) {
      return { status: 400, body: { error: "invalid_tenant", error_description: `Tenant '${pathTenant}' not found.` } };
    }
    const route = rest.join("/");
    if (method === "GET" && route === "v2.0/.well-known/openid-configuration") {
      return {
        status: 200,
        body: {
          issuer: `${base}/v2.0`,
          authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
          token_endpoint: `${base}/oauth2/v2.0/token`,
          end_session_endpoint: `${base}/oauth2/v2.0/logout`,
          jwks_uri: `${base}/discovery/v2.0/keys`,
          response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
          tenant_region_scope: "EU",
        },
      };
    }
    if (method === "GET" && route === "discovery/v2.0/keys") {
      return {
        status: 200,
        body: { keys: [{ ...this.signing.publicKey.export({ format: "jwk" }), kid: this.signing.kid, use: "sig", alg: "RS256" }] },
      };
    }
    if (method === "POST" && route === "oauth2/v2.0/token") {
      const form = new URLSearchParams(body);
      if (form.get("grant_type") !== "client_credentials") {
        return { status: 400, body: { error: "unsupported_grant_type", error_description: "Only client_credentials is faked." } };
      }
      if (form.get("client_id") !== this.clientId || form.get("client_secret") !== this.clientSecret) {
        return { status: 401, body: { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided." } };
      }
      const scope = form.get("scope") ?? "";
      const resource = scope.split(" ").find((s) => s.endsWith("/.default"));
      if (!resource)
        return { status: 400, body: { error: "invalid_scope", error_description: "AADSTS1002012: scope must end with /.default" } };
      const audience = resource.slice(0, -"/.default".length);
      // A Graph token carries the application permissions the identity holds, as Entra ID issues it.
      const roles = audience === this.urls.graph ? this.graphRoles() : undefined;
      const token = fakeJwt({ aud: audience, tid: this.scenario.tenantId, appid: this.clientId, ...(roles ? { roles } : {}) });
      this.tokens.set(token, { audience, expires: Date.now() + 3599_000, ...(roles ? { roles } : {}) });
      return { status: 200, body: { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token } };
    }
    return { status: 404, body: { error: "not_found", error_description: `No route ${method} ${url.pathname}` } };
  }

  /**
   * Control API for tools that run the fake in another process (the benchmark): the request log,
   * a summary of the state, and clearing the log. Loopback only, like the rest of the fake.
   */
  private control(method: string, url: URL, body: string): Answer {
    if (method === "PUT" && url.pathname === "/_fake/rate-limits") {
      this.setRateLimits(JSON.parse(body || "[]") as Scenario["rateLimits"]);
      return { status: 204, body: undefined };
    }
    if (method === "GET" && url.pathname === "/_fake/requests") return { status: 200, body: this.requests };
    if (method === "PUT" && url.pathname === "/_fake/latency") {
      this.latencyMs = (JSON.parse(body || "{}") as { ms?: number }).ms ?? this.latencyMs;
      return { status: 204, body: undefined };
    }
    if (method === "POST" && url.pathname === "/_fake/faults") {
      this.addFault(JSON.parse(body || "{}") as FaultInput);
      return { status: 204, body: undefined };
    }
    if (method === "DELETE" && url.pathname === "/_fake/faults") {
      this.clearFaults();
      return { status: 204, body: undefined };
    }
    const trigger = /^\/_fake\/trigger-body\/([^/]+)$/.exec(url.pathname);
    if (method === "GET" && trigger && this.incidents.has((trigger[1] as string).toLowerCase())) {
      return { status: 200, body: this.triggerBody(trigger[1] as string) };
    }
    if (method === "POST" && url.pathname === "/_fake/requests/clear") {
      this.requests.length = 0;
      return { status: 204, body: undefined };
    }
    if (method === "GET" && url.pathname === "/_fake/state") {
      const incidents: Record<string, string> = {};
      for (const [name, i] of this.incidents) incidents[name] = i.status;
      const reprocessed = [...this.reprocessed.values()].reduce((a, b) => a + b, 0);
      return { status: 200, body: { incidents, reprocessed, reprocessedAssignments: this.reprocessed.size } };
    }
    return { status: 404, body: { error: "not_found" } };
  }

  /** Checks the bearer token was issued by this fake for this service; undefined = authorized. */
  private route(service: Service, method: string, url: URL, body: string, authorization: string, fault?: Fault): Answer {
    if (service === "login") return this.login(method, url, body);
    return (
      this.authorize(service, authorization) ??
      (service === "graph" ? this.graph(method, url, body, this.rolesOf(authorization)) : this.arm(method, url, body, fault))
    );
  }

  private authorize(service: "graph" | "arm", header: string): Answer | undefined {
    const token = header.startsWith("Bearer ") ? header.slice(7) : undefined;
    const known = token ? this.tokens.get(token) : undefined;
    const ok = known !== undefined && known.expires > Date.now() && known.audience === this.urls[service];
    if (ok) return undefined;
    const message = known ? "Access token audience or lifetime is invalid" : "Access token is empty or invalid";
    return service === "graph"
      ? { status: 401, body: this.errorBody("graph", 401, message) }
      : { status: 401, body: { error: { code: "InvalidAuthenticationToken", message } } };
  }

  /** The Graph application permissions of the identity: the scenario's, or what the deployment grants. */
  graphRoles(): string[] {
    if (this.scenario.graphRoles) return this.scenario.graphRoles;
    const tenantWide = this.scenario.catalogScope ? [] : ["EntitlementManagement.ReadWrite.All"];
    return [...tenantWide, "User.Read.All", "GroupMember.Read.All", "IdentityRiskyUser.Read.All"];
  }

  private rolesOf(header: string): string[] {
    return this.tokens.get(header.slice("Bearer ".length))?.roles ?? [];
  }

  // ───────────────────────────── graph ─────────────────────────────

  private graph(method: string, url: URL, requestBody: string, roles: string[]): Answer {
    const EM = "/v1.0/identityGovernance/entitlementManagement";
    const path = url.pathname;
    const graphError = (status: number, code: string, message: string): Answer => ({
      status,
      body: { error: { code, message, innerError: { date: new Date().toISOString(), "request-id": randomUUID() } } },
    });

    // Each call answers 403 without a permission its Microsoft Graph page names (GRAPH_DOCS);
    // entitlement management also accepts the page's catalog roles, on the scenario's catalogs only.
    const doc = GRAPH_DOCS.find((d) => d.method === method && d.path.test(path));
    const tenantWide = doc !== undefined && doc.accepted.some((p) => roles.includes(p));
    const catalogRoles: string[] = this.scenario.catalogScope
      ? (this.scenario.catalogRoles ?? ["Catalog reader", "Access package assignment manager"])
      : [];
    const byRole = !tenantWide && doc?.roles !== undefined && doc.roles.some((r) => catalogRoles.includes(r));
    if (doc && !tenantWide && !byRole) {
      return graphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
    }
    const scope = byRole ? this.scenario.catalogScope?.map((c) => c.toLowerCase()) : undefined;
    const inScope = (packageId: string) =>
      scope === undefined || scope.includes((this.packagesById.get(packageId.toLowerCase())?.catalogId ?? "").toLowerCase());
    const outOfScope = () =>
      graphError(403, "Forbidden", "The caller does not have the required entitlement management role on this catalog");

    if (method === "GET" && path === `${EM}/assignments`) {
      const filter = url.searchParams.get("$filter");
      let userId: string | undefined;
      let packageId: string | undefined;
      // Only the filters the app uses are faked (target, access package, both joined by "and").
      for (const clause of filter === null ? [] : filter.trim().split(/\s+and\s+/i)) {
        const m = /^(target\/objectId|accessPackage\/id) eq '([0-9a-f-]{36})'$/i.exec(clause);
        if (!m) return graphError(400, "BadRequest", `Invalid filter clause: ${filter}`);
        if (m[1]?.toLowerCase() === "target/objectid") userId = m[2]?.toLowerCase();
        else packageId = m[2]?.toLowerCase();
      }
      // Documented: a catalog-scoped caller must name a specific access package.
      if (scope !== undefined && (packageId === undefined || !inScope(packageId))) return outOfScope();
      const expand = (url.searchParams.get("$expand") ?? "").split(",").filter(Boolean);
      if (expand.some((e) => e !== "accessPackage" && e !== "target"))
        return graphError(400, "BadRequest", `Unsupported $expand: ${expand.join(",")}`);
      const all = (userId === undefined ? this.scenario.assignments : (this.byUser.get(userId) ?? [])).filter(
        (a) => packageId === undefined || a.accessPackageId.toLowerCase() === packageId,
      );
      const top = Number(url.searchParams.get("$top") ?? this.scenario.pageSize);
      return this.graphPage(url, "identityGovernance/entitlementManagement/assignments", all, top, (a) =>
        this.assignmentResource(a, expand),
      );
    }

    const reprocess = new RegExp(`^${EM}/assignments/([^/]+)/reprocess$`).exec(path);
    if (method === "POST" && reprocess) {
      const id = decodeURIComponent(reprocess[1] ?? "").toLowerCase();
      if (!/^[0-9a-f-]{36}$/.test(id)) return graphError(400, "BadRequest", `Invalid assignment id '${id}'`);
      const a = this.assignmentsById.get(id);
      if (!a) return graphError(404, "NotFound", `Assignment '${id}' was not found`);
      if (!inScope(a.accessPackageId)) return outOfScope();
      // Documented precondition: the assignment must be delivered. The real error code is a guess.
      if (a.state !== "delivered") return graphError(400, "BadRequest", `Assignment '${id}' is ${a.state}, not delivered`);
      this.reprocessed.set(id, (this.reprocessed.get(id) ?? 0) + 1);
      // Reprocess re-applies the package's resources: put the user back in its groups, after
      // the scenario's delivery delay (Entra ID delivers asynchronously; negative = never).
      const pkg = this.packagesById.get(a.accessPackageId.toLowerCase());
      const deliver = () => {
        for (const [resource, holders] of [
          ...(pkg?.groups ?? []).map((g) => [g, this.members] as const),
          ...(pkg?.ownedGroups ?? []).map((g) => [g, this.owners] as const),
          ...(pkg?.apps ?? []).map((app) => [app, this.appRoleHolders] as const),
        ]) {
          const set = holders.get(resource.toLowerCase()) ?? new Set<string>();
          set.add(a.userId.toLowerCase());
          holders.set(resource.toLowerCase(), set);
        }
      };
      const delay = this.scenario.deliveryDelayMs;
      if (delay === 0) deliver();
      else if (delay > 0) setTimeout(deliver, delay).unref();
      return { status: 202, body: undefined };
    }

    const userMatch = /^\/v1\.0\/users\/([^/]+)$/.exec(path);
    if (method === "GET" && userMatch) {
      const id = decodeURIComponent(userMatch[1] ?? "").toLowerCase();
      const u = this.scenario.users.find((x) => x.id.toLowerCase() === id);
      if (!u)
        return graphError(
          404,
          "Request_ResourceNotFound",
          `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`,
        );
      return {
        status: 200,
        body: {
          "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,accountEnabled,userPrincipalName)/$entity",
          id: u.id,
          accountEnabled: u.accountEnabled,
          userPrincipalName: u.userPrincipalName,
        },
      };
    }

    const riskMatch = /^\/v1\.0\/identityProtection\/riskyUsers\/([^/]+)$/.exec(path);
    if (method === "GET" && riskMatch) {
      const id = decodeURIComponent(riskMatch[1] ?? "").toLowerCase();
      const r = this.scenario.riskyUsers.find((x) => x.id.toLowerCase() === id);
      // A user Identity Protection never flagged has no riskyUser object.
      if (!r) return graphError(404, "NotFound", `riskyUser '${id}' was not found`);
      const u = this.scenario.users.find((x) => x.id.toLowerCase() === id);
      return {
        status: 200,
        body: {
          id: r.id,
          isDeleted: false,
          isProcessing: false,
          riskLastUpdatedDateTime: "2026-11-20T08:00:00Z",
          riskLevel: r.riskLevel,
          riskState: r.riskState,
          riskDetail: "none",
          userDisplayName: u?.displayName ?? null,
          userPrincipalName: u?.userPrincipalName ?? null,
        },
      };
    }

    // Lists of ids, as the doctor's probes read them.
    const ids = (context: string, items: { id: string }[]): Answer =>
      this.graphPage(url, `${context}(id)`, items, Number(url.searchParams.get("$top") ?? "100"), (x) => ({ id: x.id }));
    if (method === "GET" && path === "/v1.0/users") return ids("users", this.scenario.users);
    if (method === "GET" && path === "/v1.0/identityProtection/riskyUsers")
      return ids("identityProtection/riskyUsers", this.scenario.riskyUsers);

    const memberOf = /^\/v1\.0\/users\/([^/]+)\/memberOf(\/microsoft\.graph\.group)?$/.exec(path);
    if (method === "GET" && memberOf) {
      // Direct memberships only (memberOf is not transitive): groups listing the user itself.
      const id = decodeURIComponent(memberOf[1] ?? "").toLowerCase();
      if (!this.scenario.users.some((x) => x.id.toLowerCase() === id))
        return graphError(404, "Request_ResourceNotFound", `Resource '${id}' does not exist`);
      const all = [...this.members].filter(([, m]) => m.has(id)).map(([g]) => g);
      const top = Math.min(999, Number(url.searchParams.get("$top") ?? "100"));
      return this.graphPage(url, "directoryObjects(id)", all, top, (g) => ({ "@odata.type": "#microsoft.graph.group", id: g }));
    }

    // A group's direct members or owners (users, and for members nested groups), 100 a page by default, at most 999.
    const listing = /^\/v1\.0\/groups\/([^/]+)\/(members|owners)$/.exec(path);
    if (method === "GET" && listing) {
      const id = decodeURIComponent(listing[1] ?? "").toLowerCase();
      const holders = (listing[2] === "members" ? this.members : this.owners).get(id);
      if (!holders) return graphError(404, "Request_ResourceNotFound", `Resource '${id}' does not exist`);
      const top = Math.min(999, Number(url.searchParams.get("$top") ?? "100"));
      const type = (x: string) => (this.members.has(x) ? "#microsoft.graph.group" : "#microsoft.graph.user");
      return this.graphPage(url, "directoryObjects(id)", [...holders], top, (x) => ({ "@odata.type": type(x), id: x }));
    }
    if (method === "GET" && path === "/v1.0/groups") return ids("groups", this.scenario.groups);

    const checkMatch = /^\/v1\.0\/users\/([^/]+)\/checkMemberGroups$/.exec(path);
    if (method === "POST" && checkMatch) {
      const id = decodeURIComponent(checkMatch[1] ?? "").toLowerCase();
      if (!this.scenario.users.some((x) => x.id.toLowerCase() === id))
        return graphError(404, "Request_ResourceNotFound", `Resource '${id}' does not exist`);
      const groupIds = (JSON.parse(requestBody || "{}") as { groupIds?: unknown }).groupIds;
      if (!Array.isArray(groupIds) || groupIds.length === 0 || groupIds.length > 20)
        return graphError(400, "Request_BadRequest", "groupIds must list 1 to 20 group ids");
      // Transitive, as Graph documents: a member of a group nested in the group counts.
      const value = groupIds.filter((g): g is string => typeof g === "string" && this.transitiveMember(g.toLowerCase(), id, 0));
      return { status: 200, body: { "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)", value } };
    }

    if (method === "GET" && path === `${EM}/accessPackages`) {
      const filter = url.searchParams.get("$filter");
      const m = filter === null ? undefined : /^catalog\/id eq '([0-9a-f-]{36})'$/i.exec(filter.trim());
      if (filter !== null && !m) return graphError(400, "BadRequest", `Invalid filter clause: ${filter}`);
      const catalogId = m?.[1];
      if (scope !== undefined && (catalogId === undefined || !scope.includes(catalogId.toLowerCase()))) return outOfScope();
      const all = this.scenario.accessPackages.filter(
        (p) => catalogId === undefined || p.catalogId.toLowerCase() === catalogId.toLowerCase(),
      );
      return {
        status: 200,
        body: {
          "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identityGovernance/entitlementManagement/accessPackages",
          value: all.map((p) => this.packageResource(p)),
        },
      };
    }

    const pkgMatch = new RegExp(`^${EM}/accessPackages/([^/]+)$`).exec(path);
    if (method === "GET" && pkgMatch) {
      const id = decodeURIComponent(pkgMatch[1] ?? "").toLowerCase();
      const pkg = this.packagesById.get(id);
      if (!pkg) return graphError(404, "NotFound", `Access package '${id}' was not found`);
      if (!inScope(id)) return outOfScope();
      const body: Record<string, unknown> = { ...this.packageResource(pkg) };
      if ((url.searchParams.get("$expand") ?? "").startsWith("resourceRoleScopes")) {
        // Graph's documented group roles: originId Member_<group id> and Owner_<group id>.
        const scope = (originId: string, originSystem: "AadGroup" | "AadApplication", role: string) => ({
          id: `${randomUUID()}_${randomUUID()}`,
          createdDateTime: "2025-01-01T00:00:00Z",
          role: {
            id: randomUUID(),
            displayName: role,
            description: null,
            originId: originSystem === "AadGroup" ? `${role}_${originId}` : randomUUID(),
            originSystem,
          },
          scope: { id: randomUUID(), displayName: "Root", description: "Root Scope", originId, originSystem, isRootScope: true },
        });
        body.resourceRoleScopes = [
          ...pkg.groups.map((g) => scope(g, "AadGroup", "Member")),
          ...pkg.ownedGroups.map((g) => scope(g, "AadGroup", "Owner")),
          ...pkg.apps.map((app) => scope(app, "AadApplication", "User")),
        ];
      }
      return { status: 200, body };
    }

    return graphError(404, "UnknownError", `No route ${method} ${path}`);
  }

  /**
   * One page of a Graph listing, as Graph pages: `top` items from the opaque $skiptoken on, and
   * while more remain an absolute @odata.nextLink repeating the query with the next skip token.
   */
  private graphPage<T>(url: URL, context: string, all: T[], top: number, render: (item: T) => unknown): Answer {
    const skip = Number(Buffer.from(url.searchParams.get("$skiptoken") ?? "", "base64url").toString() || "0");
    const body: Record<string, unknown> = {
      "@odata.context": `https://graph.microsoft.com/v1.0/$metadata#${context}`,
      value: all.slice(skip, skip + top).map(render),
    };
    if (skip + top < all.length) {
      const next = new URL(`${this.urls.graph}${url.pathname}`);
      for (const [k, v] of url.searchParams) if (k !== "$skiptoken") next.searchParams.set(k, v);
      next.searchParams.set("$skiptoken", Buffer.from(String(skip + top)).toString("base64url"));
      body["@odata.nextLink"] = next.toString();
    }
    return { status: 200, body };
  }

  private transitiveMember(groupId: string, userId: string, depth: number): boolean {
    const members = this.members.get(groupId);
    if (!members || depth > 10) return false;
    return members.has(userId) || [...members].some((m) => this.members.has(m) && this.transitiveMember(m, userId, depth + 1));
  }

  private packageResource(p: Scenario["accessPackages"][number]) {
    return {
      id: p.id,
      displayName: p.displayName,
      description: `Access package ${p.displayName}`,
      isHidden: false,
      createdDateTime: "2025-01-01T00:00:00Z",
      modifiedDateTime: "2025-01-01T00:00:00Z",
    };
  }

  private assignmentResource(a: Scenario["assignments"][number], expand: string[]) {
    const status = {
      delivered: "Delivered",
      delivering: "Delivering",
      partiallyDelivered: "PartiallyDelivered",
      expired: "Expired",
      deliveryFailed: "DeliveryFailed",
    }[a.state];
    const pkg = this.packagesById.get(a.accessPackageId.toLowerCase());
    return {
      id: a.id,
      state: a.state,
      status,
      expiredDateTime: a.state === "expired" ? "2026-01-01T00:00:00Z" : null,
      schedule: {
        startDateTime: "2025-01-01T00:00:00Z",
        recurrence: null,
        expiration: { endDateTime: null, duration: null, type: "noExpiration" },
      },
      customExtensionCalloutInstances: [],
      ...(expand.includes("accessPackage") && pkg ? { accessPackage: this.packageResource(pkg) } : {}),
      ...(expand.includes("target") ? { target: { id: randomUUID(), objectId: a.userId, subjectType: "user" } } : {}),
    };
  }

  // ───────────────────────────── arm ─────────────────────────────

  private arm(method: string, url: URL, body: string, fault: Fault | undefined): Answer {
    const armError = (status: number, code: string, message: string): Answer => ({ status, body: { error: { code, message } } });
    const apiVersion = url.searchParams.get("api-version");
    if (!apiVersion)
      return armError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    if (!ARM_API_VERSIONS.has(apiVersion))
      return armError(400, "InvalidApiVersionParameter", `The api-version '${apiVersion}' is invalid.`);

    const list =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.OperationalInsights\/workspaces\/([^/]+)\/providers\/Microsoft\.SecurityInsights\/incidents\/?$/i.exec(
        url.pathname,
      );
    const { workspace } = this.scenario;
    const same = (a: string | undefined, b: string) => a !== undefined && sameName(a, b);
    const inWorkspace = (sub?: string, rg?: string, ws?: string) =>
      same(sub, workspace.subscriptionId) && same(rg, workspace.resourceGroup) && same(ws, workspace.name);
    const notFound = (rg?: string, ws?: string) =>
      armError(
        404,
        "ResourceNotFound",
        `The Resource 'Microsoft.OperationalInsights/workspaces/${ws}' under resource group '${rg}' was not found.`,
      );
    if (list && method === "GET") return inWorkspace(list[1], list[2], list[3]) ? this.listIncidents(url) : notFound(list[2], list[3]);

    const sentinelBase =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.OperationalInsights\/workspaces\/([^/]+)\/providers\/Microsoft\.SecurityInsights\/(alertRules|automationRules)(?:\/([^/]+))?$/i.exec(
        url.pathname,
      );
    if (sentinelBase && method === "GET") {
      const [, sub, rg, ws, kind, id] = sentinelBase;
      if (!inWorkspace(sub, rg, ws)) return notFound(rg, ws);
      const base = `/subscriptions/${workspace.subscriptionId}/resourceGroups/${workspace.resourceGroup}/providers/Microsoft.OperationalInsights/workspaces/${workspace.name}/providers/Microsoft.SecurityInsights`;
      if (kind?.toLowerCase() === "alertrules" && id) {
        const rule = this.scenario.alertRules.find((r) => r.id.toLowerCase() === id.toLowerCase());
        if (!rule) return armError(404, "NotFound", `Alert rule '${id}' was not found`);
        return {
          status: 200,
          body: {
            id: `${base}/alertRules/${rule.id}`,
            name: rule.id,
            etag: '"1"',
            type: "Microsoft.SecurityInsights/alertRules",
            kind: rule.kind,
            properties: {
              displayName: rule.displayName,
              enabled: rule.enabled,
              severity: "Medium",
              query: "AuditLogs",
              tactics: [],
              techniques: [],
            },
          },
        };
      }
      if (kind?.toLowerCase() === "automationrules" && !id) {
        return {
          status: 200,
          body: {
            value: this.scenario.automationRules.map((a, n) => ({
              id: `${base}/automationRules/${n}`,
              name: String(n),
              etag: '"1"',
              type: "Microsoft.SecurityInsights/automationRules",
              properties: {
                displayName: a.displayName,
                order: n + 1,
                triggeringLogic: {
                  isEnabled: a.enabled,
                  triggersOn: "Incidents",
                  triggersWhen: "Created",
                  conditions: [
                    {
                      conditionType: "Property",
                      conditionProperties: {
                        propertyName: "IncidentRelatedAnalyticRuleIds",
                        operator: "Contains",
                        propertyValues: a.ruleIds.map((r) => `${base}/alertRules/${r}`),
                      },
                    },
                  ],
                },
                actions: [
                  {
                    order: 1,
                    actionType: "RunPlaybook",
                    actionConfiguration: { logicAppResourceId: a.playbookId, tenantId: this.scenario.tenantId },
                  },
                ],
              },
            })),
          },
        };
      }
    }

    const m =
      /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.OperationalInsights\/workspaces\/([^/]+)\/providers\/Microsoft\.SecurityInsights\/incidents\/([^/]+)(\/entities|\/alerts|\/comments(?:\/([^/]+))?)?$/i.exec(
        url.pathname,
      );
    if (!m) return armError(404, "NotFound", `No route ${method} ${url.pathname}`);
    const [, sub, rg, ws, name, tail, commentId] = m.map((x) => (x === undefined ? undefined : decodeURIComponent(x)));
    if (!inWorkspace(sub, rg, ws)) return notFound(rg, ws);
    const incident = this.incidents.get((name ?? "").toLowerCase());
    if (!incident) return armError(404, "NotFound", `Incident '${name}' was not found`);

    if (!tail && method === "GET") return { status: 200, body: this.incidentResource(incident) };

    if (!tail && method === "PUT") {
      if (fault?.etagConflict) {
        // Someone else edited the incident between the caller's read and this write.
        incident.etag = `"${randomUUID()}"`;
      }
      const put = JSON.parse(body || "{}") as { etag?: string; properties?: Record<string, unknown> };
      if (put.etag !== undefined && put.etag !== incident.etag) {
        return armError(
          409,
          "Conflict",
          `Newer version of resource '${incident.name}' exists. Please get the latest version and try again.`,
        );
      }
      const p = put.properties ?? {};
      for (const field of ["title", "severity", "status"]) {
        if (typeof p[field] !== "string") return armError(400, "BadRequest", `properties.${field} is required`);
      }
      if (p.status === "Closed" && typeof p.classification !== "string") {
        return armError(400, "BadRequest", "Closing an incident requires properties.classification");
      }
      // The 2024-09-01 spec: read-only properties and null strings are not accepted in a PUT.
      const readOnly = [
        "additionalData",
        "providerName",
        "providerIncidentId",
        "incidentNumber",
        "incidentUrl",
        "createdTimeUtc",
        "lastModifiedTimeUtc",
        "relatedAnalyticRuleIds",
        "teamInformation",
      ];
      const sentReadOnly = readOnly.filter((k) => k in p);
      if (sentReadOnly.length) return armError(400, "BadRequest", `Read-only properties cannot be set: ${sentReadOnly.join(", ")}`);
      const owner = (p.owner ?? {}) as Record<string, unknown>;
      const nullOwner = Object.entries(owner).filter(([k, v]) => v === null || (k !== "ownerType" && typeof v !== "string"));
      if (nullOwner.length) return armError(400, "BadRequest", `properties.owner.${nullOwner[0]?.[0]} must be a string`);
      if (
        Array.isArray(p.labels) &&
        (p.labels as Record<string, unknown>[]).some((l) => typeof l.labelName !== "string" || "labelType" in l)
      ) {
        return armError(400, "BadRequest", "properties.labels[].labelName is required and labelType is read-only");
      }
      // A PUT replaces the writable properties: what the caller leaves out is cleared (the real
      // service's handling of omitted fields is a guess; clearing is the strict reading of PUT).
      Object.assign(incident, {
        title: p.title,
        severity: p.severity,
        status: p.status,
        description: typeof p.description === "string" ? p.description : undefined,
        owner: p.owner && typeof p.owner === "object" ? p.owner : undefined,
        labels: Array.isArray(p.labels)
          ? (p.labels as { labelName: string }[]).map((l) => ({ labelName: l.labelName, labelType: "User" }))
          : [],
        classification: p.classification,
        classificationReason: p.classificationReason,
        classificationComment: p.classificationComment,
        etag: `"${randomUUID()}"`,
        lastModifiedTimeUtc: new Date().toISOString(),
      });
      return { status: 200, body: this.incidentResource(incident) };
    }

    if (tail === "/entities" && method === "POST") {
      return {
        status: 200,
        body: {
          entities: this.entityResources(incident),
          metaData: Object.entries(
            incident.entities.reduce<Record<string, number>>((acc, e) => ({ ...acc, [e.kind]: (acc[e.kind] ?? 0) + 1 }), {}),
          ).map(([entityKind, count]) => ({ count, entityKind })),
        },
      };
    }

    if (tail === "/alerts" && method === "POST") {
      // One SecurityAlert per product the incident holds alerts of.
      return {
        status: 200,
        body: {
          value: incident.productNames.map((productName, n) => ({
            id: `${this.incidentId(incident)}/alerts/${n}`,
            name: randomUUID(),
            type: "Microsoft.SecurityInsights/Entities",
            kind: "SecurityAlert",
            properties: {
              friendlyName: `alert ${n}`,
              alertDisplayName: incident.title,
              productName,
              productComponentName: productName,
              severity: incident.severity,
              status: "New",
            },
          })),
        },
      };
    }

    if (tail?.toLowerCase().startsWith("/comments")) {
      if (method === "GET" && commentId === undefined) {
        return { status: 200, body: { value: [...incident.comments].map(([id, c]) => this.commentResource(incident, id, c)) } };
      }
      if (method === "PUT" && commentId !== undefined) {
        const put = JSON.parse(body || "{}") as { properties?: { message?: unknown } };
        const message = put.properties?.message;
        if (typeof message !== "string" || message.length === 0) return armError(400, "BadRequest", "properties.message is required");
        if (message.length > 30_000) return armError(400, "BadRequest", "properties.message exceeds 30000 characters");
        const key = commentId.toLowerCase();
        const existing = incident.comments.get(key);
        const now = new Date().toISOString();
        const comment = { message, createdTimeUtc: existing?.createdTimeUtc ?? now, lastModifiedTimeUtc: now, etag: `"${randomUUID()}"` };
        incident.comments.set(key, comment);
        return { status: existing ? 200 : 201, body: this.commentResource(incident, key, comment) };
      }
    }
    return armError(405, "MethodNotAllowed", `${method} is not supported on ${url.pathname}`);
  }

  /**
   * Incident list with OData as ARM serves it: $filter on properties/status (eq, ne) and
   * properties/createdTimeUtc (ge, gt, le, lt) joined by "and", $orderby on createdTimeUtc,
   * $top (default 50), and an absolute nextLink with a $skipToken. The real service supports
   * more; other clauses are refused here so that a query the app depends on cannot go unnoticed.
   */
  private listIncidents(url: URL): Answer {
    const filter = url.searchParams.get("$filter") ?? "";
    const clauses = filter ? filter.split(/\s+and\s+/i) : [];
    const tests: ((i: IncidentRecord) => boolean)[] = [];
    for (const clause of clauses) {
      const status = /^properties\/status (eq|ne) '(\w+)'$/i.exec(clause.trim());
      const created = /^properties\/createdTimeUtc (ge|gt|le|lt) (\S+)$/i.exec(clause.trim());
      if (status) tests.push((i) => (status[1]?.toLowerCase() === "eq") === (i.status === status[2]));
      else if (created && !Number.isNaN(Date.parse(created[2] ?? ""))) {
        const at = Date.parse(created[2] ?? "");
        const op = created[1]?.toLowerCase();
        tests.push((i) => {
          const t = Date.parse(i.createdTimeUtc);
          return op === "ge" ? t >= at : op === "gt" ? t > at : op === "le" ? t <= at : t < at;
        });
      } else return { status: 400, body: { error: { code: "BadRequest", message: `Unsupported filter clause: ${clause}` } } };
    }
    const orderby = (url.searchParams.get("$orderby") ?? "properties/createdTimeUtc asc").trim();
    const order = /^properties\/createdTimeUtc( (asc|desc))?$/i.exec(orderby);
    if (!order) return { status: 400, body: { error: { code: "BadRequest", message: `Unsupported $orderby: ${orderby}` } } };
    const desc = order[2]?.toLowerCase() === "desc";
    const top = Number(url.searchParams.get("$top") ?? "50");
    const skip = Number(url.searchParams.get("$skipToken") ?? "0");
    const all = [...this.incidents.values()]
      .filter((i) => tests.every((t) => t(i)))
      .sort((a, b) => (desc ? -1 : 1) * a.createdTimeUtc.localeCompare(b.createdTimeUtc));
    const value = all.slice(skip, skip + top).map((i) => this.incidentResource(i));
    const body: Record<string, unknown> = { value };
    if (skip + top < all.length) {
      const next = new URL(`${this.urls.arm}${url.pathname}`);
      for (const [k, v] of url.searchParams) if (k !== "$skipToken") next.searchParams.set(k, v);
      next.searchParams.set("$skipToken", String(skip + top));
      body.nextLink = next.toString();
    }
    return { status: 200, body };
  }

  private incidentId(i: IncidentRecord): string {
    const { workspace: w } = this.scenario;
    return `/subscriptions/${w.subscriptionId}/resourceGroups/${w.resourceGroup}/providers/Microsoft.OperationalInsights/workspaces/${w.name}/providers/Microsoft.SecurityInsights/Incidents/${i.name}`;
  }

  private entityResources(i: IncidentRecord) {
    return i.entities.map((e) => {
      const name = randomUUID();
      return {
        id: `${this.incidentId(i)}/entities/${name}`,
        name,
        type: "Microsoft.SecurityInsights/Entities",
        kind: e.kind,
        properties: e.properties,
      };
    });
  }

  private incidentResource(i: IncidentRecord) {
    const { workspace: w } = this.scenario;
    const ruleBase = `/subscriptions/${w.subscriptionId}/resourceGroups/${w.resourceGroup}/providers/Microsoft.OperationalInsights/workspaces/${w.name}/providers/Microsoft.SecurityInsights/alertRules/`;
    return {
      id: this.incidentId(i),
      name: i.name,
      etag: i.etag,
      type: "Microsoft.SecurityInsights/Incidents",
      properties: {
        title: i.title,
        severity: i.severity,
        status: i.status,
        ...(i.classification
          ? {
              classification: i.classification,
              classificationReason: i.classificationReason,
              classificationComment: i.classificationComment,
            }
          : {}),
        ...(i.description !== undefined ? { description: i.description } : {}),
        owner: {
          objectId: null,
          email: null,
          assignedTo: null,
          userPrincipalName: null,
          ownerType: i.owner ? "User" : "Unknown",
          ...i.owner,
        },
        labels: i.labels,
        firstActivityTimeUtc: i.createdTimeUtc,
        lastActivityTimeUtc: i.createdTimeUtc,
        lastModifiedTimeUtc: i.lastModifiedTimeUtc,
        createdTimeUtc: i.createdTimeUtc,
        incidentNumber: i.number,
        additionalData: {
          alertsCount: i.alertsCount ?? Math.max(1, i.productNames.length),
          bookmarksCount: 0,
          commentsCount: i.comments.size,
          ...(i.listsProducts ? { alertProductNames: i.productNames } : {}),
          tactics: ["Impact"],
          techniques: [],
        },
        relatedAnalyticRuleIds: i.ruleIds.map((r) => ruleBase + r),
        incidentUrl: `https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident${this.incidentId(i)}`,
        providerName: i.listsProducts ? "Azure Sentinel" : "Microsoft XDR",
        providerIncidentId: String(i.number),
      },
    };
  }

  private commentResource(
    i: IncidentRecord,
    id: string,
    c: { message: string; createdTimeUtc: string; lastModifiedTimeUtc: string; etag: string },
  ) {
    return {
      id: `${this.incidentId(i)}/Comments/${id}`,
      name: id,
      etag: c.etag,
      type: "Microsoft.SecurityInsights/Incidents/Comments",
      properties: {
        message: c.message,
        createdTimeUtc: c.createdTimeUtc,
        lastModifiedTimeUtc: c.lastModifiedTimeUtc,
        author: { objectId: this.clientId, name: "access-package-remediation", userPrincipalName: null, email: null },
      },
    };
  }
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, { "content-length": "0", ...headers });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4 * 1024 * 1024) throw new Error("request body too large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * What Microsoft Graph's pages name for each call an application makes: the application
 * permissions that allow it (least privileged first), and for entitlement management the roles an
 * app-only caller may hold on a catalog instead. Written from the pages, not from src/.
 */
const DIRECTORY = ["Directory.Read.All", "Directory.ReadWrite.All"];
const GROUP_READ = ["GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All", ...DIRECTORY];
const EM_READ = {
  accepted: ["EntitlementManagement.Read.All", "EntitlementManagement.ReadWrite.All"],
  roles: ["Catalog reader", "Catalog creator", "Access package manager"],
};
const GRAPH_DOCS: { method: string; path: RegExp; accepted: string[]; roles?: string[] }[] = [
  // entitlementmanagement-list-assignments, entitlementmanagement-list-accesspackages, accesspackage-get
  { method: "GET", path: /^\/v1\.0\/identityGovernance\/entitlementManagement\/assignments$/, ...EM_READ },
  { method: "GET", path: /^\/v1\.0\/identityGovernance\/entitlementManagement\/accessPackages(\/[^/]+)?$/, ...EM_READ },
  // accesspackageassignment-reprocess
  {
    method: "POST",
    path: /^\/v1\.0\/identityGovernance\/entitlementManagement\/assignments\/[^/]+\/reprocess$/,
    accepted: ["EntitlementManagement.ReadWrite.All"],
    roles: ["Access package assignment manager", "Access package manager", "Catalog owner"],
  },
  // user-get, user-list
  { method: "GET", path: /^\/v1\.0\/users\/[^/]+$/, accepted: ["User.Read.All", "User.ReadWrite.All", ...DIRECTORY] },
  { method: "GET", path: /^\/v1\.0\/users$/, accepted: ["User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", ...DIRECTORY] },
  // riskyuser-get, riskyuser-list
  {
    method: "GET",
    path: /^\/v1\.0\/identityProtection\/riskyUsers(\/[^/]+)?$/,
    accepted: ["IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"],
  },
  // user-list-memberof: Directory.Read.All is its least privileged application permission
  { method: "GET", path: /^\/v1\.0\/users\/[^/]+\/memberOf/, accepted: DIRECTORY },
  // group-list-members, group-list-owners, group-list
  { method: "GET", path: /^\/v1\.0\/groups\/[^/]+\/(members|owners)$/, accepted: GROUP_READ },
  { method: "GET", path: /^\/v1\.0\/groups$/, accepted: GROUP_READ },
  // user-checkmembergroups: a User.Read permission with GroupMember.Read.All (the group half checked here)
  { method: "POST", path: /^\/v1\.0\/users\/[^/]+\/checkMemberGroups$/, accepted: GROUP_READ },
];

function fakeJwt(claims: Record<string, string | string[]>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ typ: "JWT", alg: "none" })}.${b64({ ...claims, iat: now, nbf: now, exp: now + 3599, jti: randomUUID() })}.${randomBytes(16).toString("base64url")}`;
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Waits `ms`, or less if the client hangs up first (so the stalled request is recorded when it ends). */
function untilClosed(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((ok) => {
    const timer = setTimeout(done, ms);
    res.once("close", done);
    function done() {
      clearTimeout(timer);
      res.off("close", done);
      ok();
    }
  });
}
