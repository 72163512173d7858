// /api/v1/queues: the durable queues through the queue engine's management API (broker.queues, docs/queues.md):
// list, stats, inspect (peek the oldest messages), purge, redrive the DLQ, delete. A queue name may contain `/`, so
// it is one URL-encoded path segment, like a retained topic: `/api/v1/queues/dlq%2Fjobs`. Mutations answer after
// the engine's store has committed them (a purge that answered 200 is not undone by a crash).
import type { Broker } from "../../broker/index.ts";
import { QueueError, QueueErrorCode, messageIdOf, type QueueInfo, type QueueMessage } from "../../queues/index.ts";
import { payloadText } from "../broker-view.ts";
import { AdminError, AdminErrorCode, badRequest, notFound } from "../errors.ts";
import type { AdminRequest, Router } from "../http/router.ts";
import { page, strParam } from "./paging.ts";

export interface QueueMessageView {
  seq: number;
  /** The id consumers settle with (`message-id`). */
  messageId: string;
  partition: number;
  /** ms since the epoch. */
  enqueuedAt: number;
  expiresAt: number | null;
  partitionKey: string | null;
  payloadSize: number;
  payload: string | null;
  payloadBase64: string;
  /** Dead letters: why and from where. */
  dlq: { reason: string; originalQueue: string; originalId: string; group: string; deliveryCount: number } | null;
}

export function queueMessageView(m: QueueMessage): QueueMessageView {
  const r = m.record;
  return {
    seq: m.seq,
    messageId: messageIdOf(m),
    partition: m.partition,
    enqueuedAt: r.enqueuedAt,
    expiresAt: r.expiresAt ?? null,
    partitionKey: r.partitionKey ?? null,
    payloadSize: r.payload.length,
    payload: payloadText(r.payload),
    payloadBase64: r.payload.toString("base64"),
    dlq: r.dlq === undefined ? null : { ...r.dlq },
  };
}

/** The engine's typed errors as API errors with stable codes (the engine's own code in `details.queueCode`). */
function mapQueueError(err: unknown): unknown {
  if (!(err instanceof QueueError)) return err;
  const details = { queueCode: err.code };
  switch (err.code) {
    case QueueErrorCode.NotFound:
      return new AdminError(AdminErrorCode.NotFound, err.message, details);
    case QueueErrorCode.Busy:
      return new AdminError(AdminErrorCode.Conflict, err.message, details);
    default:
      return new AdminError(AdminErrorCode.BadRequest, err.message, details);
  }
}

/** `?limit=` of redrive and inspect: a positive integer up to `max`, or `dflt`. */
function limitParam(req: AdminRequest, max: number, dflt: number | undefined): number | undefined {
  const raw = req.query.get("limit");
  if (raw === null) return dflt;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw badRequest(`query parameter limit must be an integer 1..${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export function queueRoutes(router: Router, broker: Broker): void {
  const engine = () => broker.queues;
  const infoOf = (req: AdminRequest): QueueInfo => {
    const info = engine().info(req.params.name!);
    if (info === undefined) throw notFound(`queue ${JSON.stringify(req.params.name)}`);
    return info;
  };
  const guarded = async <T>(fn: () => T): Promise<T> => {
    let out: T;
    try {
      out = fn();
    } catch (err) {
      throw mapQueueError(err);
    }
    // Answer once the change is at the store's durability point.
    await engine().commit();
    return out;
  };

  router.add(
    "GET",
    "/api/v1/queues",
    (req) => {
      const prefix = strParam(req.query, "prefix");
      const all = engine()
        .list()
        .filter((q) => prefix === undefined || q.name.startsWith(prefix))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return { json: page(all, req.query, (q) => q) };
    },
    { summary: "Durable queues with depth, in flight, DLQ depth, groups and counters (paged; filter: prefix)" },
  );
  router.add("GET", "/api/v1/queues/:name", (req) => ({ json: infoOf(req) }), {
    summary: "One queue's statistics (the name is one URL-encoded segment: dlq%2Fjobs)",
  });
  router.add(
    "GET",
    "/api/v1/queues/:name/messages",
    (req) => {
      const info = infoOf(req);
      const limit = limitParam(req, 1000, 10)!;
      const items = engine().peek(info.name, limit).map(queueMessageView);
      return { json: { items, total: info.depth, offset: 0, limit } };
    },
    { summary: "Inspect: the oldest messages of a queue with their bodies (?limit=1..1000, default 10)" },
  );
  router.add(
    "POST",
    "/api/v1/queues/:name/purge",
    async (req) => {
      const name = infoOf(req).name;
      const purged = await guarded(() => engine().purge(name));
      return { json: { queue: name, purged } };
    },
    { summary: "Delete every message of a queue (in-flight ones too: their settlement is refused later)" },
  );
  router.add(
    "POST",
    "/api/v1/queues/:name/redrive",
    async (req) => {
      const name = req.params.name!;
      const limit = limitParam(req, Number.MAX_SAFE_INTEGER, undefined);
      const moved = await guarded(() => engine().redrive(name, limit));
      return { json: { queue: name, moved } };
    },
    {
      summary:
        "Move dead letters back to their original queue, oldest first (the name is a queue or its DLQ; ?limit=n)",
    },
  );
  router.add(
    "DELETE",
    "/api/v1/queues/:name",
    async (req) => {
      const name = infoOf(req).name;
      await guarded(() => engine().delete(name));
      return { json: { queue: name, deleted: true } };
    },
    { summary: "Delete a queue with its groups; 409 CONFLICT while it has consumers" },
  );
}
