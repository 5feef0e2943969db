/**
 * An in-memory state table with Azure Table storage's semantics for what the app uses: entities
 * keyed by (PartitionKey, RowKey), an etag per write, create failing 409 on an existing entity,
 * replace-if-match failing 412 on another etag (404 when gone), unconditional upsert, and a
 * PartitionKey filter on listings. Every call first goes through `beforeCall`, where the world
 * simulation may change the world, fail the call or stall it.
 */
import { RestError } from "@azure/core-rest-pipeline";

type Entity = { partitionKey: string; rowKey: string } & Record<string, unknown>;
interface Options {
  abortSignal?: AbortSignal;
  etag?: string;
}

export class SimTable {
  /** A SAS URL, as a table client built from one shows it: the simulation checks its signature never leaves the app. */
  readonly url = "https://simstate.table.core.windows.net/state?sv=2024-11-04&ss=t&sig=SIMSECRETSIGNATURE";
  readonly rows = new Map<string, { entity: Entity; etag: string }>();
  private writes = 0;

  constructor(private readonly beforeCall: (what: string, signal: AbortSignal | undefined) => Promise<void>) {}

  /** The same table seen by another caller (its calls reach the hook with that caller's name). */
  as(beforeCall: (what: string, signal: AbortSignal | undefined) => Promise<void>): SimTable {
    const view = Object.create(this) as SimTable;
    Object.defineProperty(view, "beforeCall", { value: beforeCall });
    return view;
  }

  async createTable(options: Options = {}): Promise<void> {
    await this.enter("createTable", options);
  }

  async getEntity<T extends object>(pk: string, rk: string, options: Options = {}): Promise<T & Entity & { etag: string }> {
    await this.enter(`getEntity ${pk}/${rk}`, options);
    const row = this.rows.get(key(pk, rk));
    if (!row) throw new RestError("The specified resource does not exist.", { statusCode: 404, code: "ResourceNotFound" });
    return { ...structuredClone(row.entity), etag: row.etag } as T & Entity & { etag: string };
  }

  async createEntity(entity: Entity, options: Options = {}): Promise<{ etag: string }> {
    await this.enter(`createEntity ${entity.partitionKey}/${entity.rowKey}`, options);
    if (this.rows.has(key(entity.partitionKey, entity.rowKey))) {
      throw new RestError("The specified entity already exists.", { statusCode: 409, code: "EntityAlreadyExists" });
    }
    return this.write(entity);
  }

  async updateEntity(entity: Entity, _mode: "Replace" | "Merge", options: Options = {}): Promise<{ etag: string }> {
    await this.enter(`updateEntity ${entity.partitionKey}/${entity.rowKey}`, options);
    const row = this.rows.get(key(entity.partitionKey, entity.rowKey));
    if (!row) throw new RestError("The specified resource does not exist.", { statusCode: 404, code: "ResourceNotFound" });
    if (options.etag !== undefined && options.etag !== "*" && options.etag !== row.etag) {
      throw new RestError("The update condition specified in the request was not satisfied.", {
        statusCode: 412,
        code: "UpdateConditionNotSatisfied",
      });
    }
    return this.write(entity);
  }

  async upsertEntity(entity: Entity, _mode: "Replace" | "Merge", options: Options = {}): Promise<{ etag: string }> {
    await this.enter(`upsertEntity ${entity.partitionKey}/${entity.rowKey}`, options);
    return this.write(entity);
  }

  async deleteEntity(pk: string, rk: string, options: Options = {}): Promise<void> {
    await this.enter(`deleteEntity ${pk}/${rk}`, options);
    if (!this.rows.delete(key(pk, rk))) throw new RestError("The specified resource does not exist.", { statusCode: 404 });
  }

  listEntities<T extends object>(options: { queryOptions?: { filter?: string }; abortSignal?: AbortSignal } = {}) {
    const partition = /PartitionKey eq '([^']*)'/.exec(options.queryOptions?.filter ?? "")?.[1];
    const page = async () => {
      await this.enter("listEntities", options);
      return [...this.rows.values()]
        .filter((r) => partition === undefined || r.entity.partitionKey === partition)
        .map((r) => ({ ...structuredClone(r.entity), etag: r.etag }) as T & Entity & { etag: string });
    };
    return {
      byPage: () => ({
        async *[Symbol.asyncIterator]() {
          yield await page();
        },
      }),
    };
  }

  private async enter(what: string, options: Options): Promise<void> {
    options.abortSignal?.throwIfAborted();
    await this.beforeCall(what, options.abortSignal);
    options.abortSignal?.throwIfAborted();
  }

  private write(entity: Entity): { etag: string } {
    const etag = `W/"datetime'${++this.writes}'"`;
    this.rows.set(key(entity.partitionKey, entity.rowKey), { entity: structuredClone(entity), etag });
    return { etag };
  }
}

const key = (pk: string, rk: string) => `${pk}\u0000${rk}`;
