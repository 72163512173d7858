// MQTT.js helpers for the durable queue end-to-end tests.
import type { TestContext } from "node:test";
import mqtt from "mqtt";
import type { IClientOptions, IClientSubscribeOptions, IPublishPacket, MqttClient } from "mqtt";
import { waitUntil } from "../../helpers/clients.ts";

export interface Got {
  topic: string;
  payload: string;
  qos: number;
  props: Record<string, string>;
}

export interface Client {
  client: MqttClient;
  got: Got[];
  waitFor(n: number, timeoutMs?: number): Promise<Got[]>;
}

function flatten(up: Record<string, string | string[]> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(up ?? {})) out[k] = Array.isArray(v) ? v[v.length - 1]! : v;
  return out;
}

export async function connect(t: TestContext, url: string, opts: IClientOptions = {}): Promise<Client> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
  t.after(() => client.endAsync(true));
  const got: Got[] = [];
  client.on("message", (topic, payload, packet: IPublishPacket) => {
    got.push({
      topic,
      payload: payload.toString(),
      qos: packet.qos,
      props: flatten(packet.properties?.userProperties),
    });
  });
  return {
    client,
    got,
    async waitFor(n, timeoutMs = 5000) {
      await waitUntil(() => got.length >= n, timeoutMs, `${n} messages (have ${got.length})`);
      return got;
    },
  };
}

/** 5.0 SUBSCRIBE with consumer options as user properties; resolves with the granted reason codes. */
export async function consume(
  c: Client,
  queue: string,
  opts: { group?: string; prefetch?: number; offset?: string; qos?: 0 | 1 } = {},
): Promise<number[]> {
  const userProperties: Record<string, string> = {};
  if (opts.group !== undefined) userProperties["consumer-group"] = opts.group;
  if (opts.prefetch !== undefined) userProperties.prefetch = String(opts.prefetch);
  if (opts.offset !== undefined) userProperties["stream-offset"] = opts.offset;
  return subscribeCodes(c, [`$queue/${queue}`], {
    qos: opts.qos ?? 1,
    properties: Object.keys(userProperties).length > 0 ? { userProperties } : undefined,
  });
}

/** SUBSCRIBE; resolves with the SUBACK codes (MQTT.js rejects when one is a failure). */
export async function subscribeCodes(c: Client, filters: string[], opts: IClientSubscribeOptions): Promise<number[]> {
  try {
    const granted = await c.client.subscribeAsync(filters, opts);
    return granted.map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted !== undefined) return granted;
    throw err;
  }
}

export async function settle(
  c: Client,
  queue: string,
  action: "ack" | "nack" | "reject",
  messageId: string,
  extra: Record<string, string> = {},
): Promise<number> {
  return publishCode(c, `$queue/${queue}/$${action}`, "", { "message-id": messageId, ...extra });
}

/** QoS 1 publish; resolves with the PUBACK reason code (MQTT.js rejects on >= 0x80 with `code`). */
export async function publishCode(
  c: Client,
  topic: string,
  payload: string,
  userProperties?: Record<string, string>,
): Promise<number> {
  try {
    await c.client.publishAsync(topic, payload, {
      qos: 1,
      properties: userProperties ? { userProperties } : undefined,
    });
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number") return code;
    throw err;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
