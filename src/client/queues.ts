// Durable queue helpers on top of an MQTT.js 5.0 client (docs/queues.md "Client helper"). Not a new client: you
// connect MQTT.js yourself (`protocolVersion: 5`) and hand it in. The helpers speak the `$queue/` wire contract:
//   enqueue(client, "jobs", payload, { partitionKey })        PUBLISH $queue/jobs at QoS 1, resolves on PUBACK
//   consume(client, "jobs", { group, prefetch }, handler)     SUBSCRIBE with consumer-group / prefetch; for each
//     delivery runs `handler`: resolves → $ack, throws → $nack (NackError may set retry-after), throws a
//     RejectError → $reject (straight to the dead-letter queue, with its message as `reason`).
// The client is described structurally (the few MQTT.js methods used), so this module needs no import of mqtt.

type UserProperties = Record<string, string | string[]>;

interface PublishOpts {
  qos: 0 | 1 | 2;
  properties?: { userProperties?: UserProperties };
}

interface PublishPacketLike {
  topic: string;
  properties?: { userProperties?: UserProperties };
}

/** The part of an MQTT.js `MqttClient` the helpers use. */
export interface QueueClient {
  options: { protocolVersion?: number };
  publishAsync(topic: string, payload: string | Buffer, opts: PublishOpts): Promise<unknown>;
  subscribeAsync(topic: string, opts: PublishOpts): Promise<{ qos: number }[]>;
  unsubscribeAsync(topic: string): Promise<unknown>;
  on(event: "message", fn: (topic: string, payload: Buffer, packet: PublishPacketLike) => void): unknown;
  removeListener(event: "message", fn: (topic: string, payload: Buffer, packet: PublishPacketLike) => void): unknown;
}

/** Thrown by a handler: the message goes to the dead-letter queue at once (`dlq-reason: rejected: <message>`). */
export class RejectError extends Error {
  override readonly name = "RejectError";
  readonly code = "QUEUE_REJECT";
}

/** Thrown by a handler to nack with a specific retry delay (any other error nacks with the queue's backoff). */
export class NackError extends Error {
  override readonly name = "NackError";
  readonly code = "QUEUE_NACK";
  constructor(
    message: string,
    /** ms until the retry. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface QueueHelperMessage {
  queue: string;
  messageId: string;
  deliveryCount: number;
  partitionKey: string | undefined;
  payload: Buffer;
  /** The publisher's user properties (and, on dead letters, dlq-reason, original-queue, …). */
  userProperties: Record<string, string>;
}

export interface ConsumeOptions {
  /** Consumer group (default: the queue's `default` group). */
  group?: string;
  /** Unsettled deliveries at once (default: the queue's `prefetch`). */
  prefetch?: number;
  /** Streams, new groups: `earliest`, `latest`, an offset, an ISO date or `t:<ms>`. */
  streamOffset?: string;
}

export interface Consumption {
  /** Unsubscribes; settlements still running finish. */
  stop(): Promise<void>;
}

function flat(up: UserProperties | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(up ?? {})) out[k] = Array.isArray(v) ? v[0]! : v;
  return out;
}

function need5(client: QueueClient): void {
  if (client.options.protocolVersion !== 5) {
    throw new TypeError("queue helpers need an MQTT.js client connected with protocolVersion: 5");
  }
}

/** PUBLISH to `$queue/<queue>` at QoS 1; resolves on the PUBACK (after the broker's durable append). */
export async function enqueue(
  client: QueueClient,
  queue: string,
  payload: string | Buffer,
  opts: { partitionKey?: string; userProperties?: Record<string, string> } = {},
): Promise<void> {
  need5(client);
  const userProperties: Record<string, string> = { ...opts.userProperties };
  if (opts.partitionKey !== undefined) userProperties["partition-key"] = opts.partitionKey;
  await client.publishAsync(`$queue/${queue}`, payload, {
    qos: 1,
    properties: Object.keys(userProperties).length > 0 ? { userProperties } : undefined,
  });
}

/**
 * Joins the consumer group and runs `handler` for every delivery; settles each one by the handler's outcome.
 * Rejects if the broker refuses the subscription (its SUBACK reason code is in the error message).
 */
export async function consume(
  client: QueueClient,
  queue: string,
  opts: ConsumeOptions,
  handler: (m: QueueHelperMessage) => void | Promise<void>,
): Promise<Consumption> {
  need5(client);
  const topic = `$queue/${queue}`;
  const settle = async (action: "$ack" | "$nack" | "$reject", id: string, extra: Record<string, string>) => {
    const userProperties: Record<string, string> = { "message-id": id, ...extra };
    if (opts.group !== undefined) userProperties["consumer-group"] = opts.group;
    await client.publishAsync(`${topic}/${action}`, "", { qos: 1, properties: { userProperties } });
  };
  const onMessage = (t: string, payload: Buffer, packet: PublishPacketLike): void => {
    if (t !== topic) return;
    const up = flat(packet.properties?.userProperties);
    const id = up["message-id"];
    if (id === undefined) return;
    const m: QueueHelperMessage = {
      queue,
      messageId: id,
      deliveryCount: Number(up["delivery-count"] ?? 1),
      partitionKey: up["partition-key"],
      payload,
      userProperties: up,
    };
    void (async () => {
      try {
        await handler(m);
        await settle("$ack", id, {});
      } catch (err) {
        if (err instanceof RejectError) await settle("$reject", id, { reason: err.message });
        else if (err instanceof NackError && err.retryAfter !== undefined)
          await settle("$nack", id, { "retry-after": String(Math.max(0, Math.round(err.retryAfter))) });
        else await settle("$nack", id, {});
      }
    })().catch(() => undefined); // a settle that fails (connection lost) is retried by the broker's timeout
  };
  client.on("message", onMessage);
  const userProperties: Record<string, string> = {};
  if (opts.group !== undefined) userProperties["consumer-group"] = opts.group;
  if (opts.prefetch !== undefined) userProperties.prefetch = String(opts.prefetch);
  if (opts.streamOffset !== undefined) userProperties["stream-offset"] = opts.streamOffset;
  try {
    const granted = await client.subscribeAsync(topic, {
      qos: 1,
      properties: Object.keys(userProperties).length > 0 ? { userProperties } : undefined,
    });
    const rc = granted[0]?.qos ?? 0x80;
    if (rc >= 0x80) throw new Error(`queue subscription refused: reason code 0x${rc.toString(16)}`);
  } catch (err) {
    client.removeListener("message", onMessage);
    throw err;
  }
  return {
    async stop() {
      client.removeListener("message", onMessage);
      await client.unsubscribeAsync(topic);
    },
  };
}
