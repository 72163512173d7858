// CoAP Observe (RFC 7641) on a topic or filter: each observation is an MQTT 5.0 subscription of its own
// LoopbackClient; every message delivered becomes a notification (payload as published, Content-Format from the
// MQTT Content Type when it is a registered one). The first notification is the retained value (several, in
// order, for a filter matching several topics), or an empty 2.05 when there is none, so the observer knows at
// once that it is registered (an empty payload is never a retained value: MQTT deletes retained messages with it).
// Only confirmable registrations are taken, so notifications are confirmable and an observer that vanished is
// detected when one goes unacknowledged (after MAX_TRANSMIT_WAIT, 93 s, RFC 7252 §4.8.2); a Reset in answer to a
// notification, a GET with Observe 1 (deregistration, §3.6) or a new registration with the same token end it.
// A notification larger than one block carries the first block with Block2 and ETag; the observer fetches the
// rest with GET + Block2 on the same URI, served from LargeNotifications [RFC 7959 §3.4].
import type { ObserveWriteStream } from "coap";
import type { PublishPacket } from "../../codec/index.ts";
import { messageJson } from "../bridge/json.ts";
import { blockOption, BLOCK_SIZE } from "./blocks.ts";
import { CONTENT_FORMATS } from "./request.ts";

/** The ETag the `coap` package gives a block-wise response (XOR of 2-byte words): follow-ups must match it. */
export function packageEtag(payload: Buffer): Buffer {
  const id = Buffer.of(0, 0);
  let i = 0;
  do {
    id[0]! ^= payload[i] ?? 0;
    id[1]! ^= payload[i + 1] ?? 0;
    i += 2;
  } while (i < payload.length);
  return id;
}

/** The last large notification per (observer address, URI), for its Block2 follow-ups; bounded in bytes. */
export class LargeNotifications {
  readonly #entries = new Map<string, Buffer>();
  #bytes = 0;

  constructor(private readonly maxBytes: number) {}

  put(key: string, payload: Buffer): void {
    this.delete(key);
    this.#entries.set(key, payload);
    this.#bytes += payload.length;
    for (const [k, v] of this.#entries) {
      if (this.#bytes <= this.maxBytes || k === key) break;
      this.#entries.delete(k);
      this.#bytes -= v.length;
    }
  }

  get(key: string): Buffer | undefined {
    return this.#entries.get(key);
  }

  delete(key: string): void {
    const old = this.#entries.get(key);
    if (old === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= old.length;
  }
}

/** `m` with its payload replaced by the JSON form (topic included), Content Type application/json. */
export function asJson(m: PublishPacket): PublishPacket {
  return {
    ...m,
    payload: Buffer.from(messageJson(m)),
    properties: { ...m.properties, contentType: "application/json" },
  };
}

/** Sends `m` as one notification on `res` (first block only when larger than BLOCK_SIZE). */
export function notify(res: ObserveWriteStream, m: PublishPacket, large: LargeNotifications, key: string): void {
  if (res.writableEnded || res.destroyed) return;
  const ct = m.properties?.contentType;
  res.setOption("Content-Format", ct !== undefined && CONTENT_FORMATS.has(ct) ? ct : []);
  if (m.payload.length > BLOCK_SIZE) {
    large.put(key, m.payload);
    res.setOption("Block2", blockOption(0, true, BLOCK_SIZE));
    res.setOption("ETag", packageEtag(m.payload));
    res.setOption("Size2", m.payload.length);
    res.write(m.payload.subarray(0, BLOCK_SIZE));
    return;
  }
  res.setOption("Block2", []);
  res.setOption("ETag", []);
  res.setOption("Size2", []);
  res.write(m.payload);
}
