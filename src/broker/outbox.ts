// A connection's output of one event-loop turn, assembled into as few Buffers as possible at the flush.
//
// Until the flush a connection keeps what it will write as a list of items: an encoded packet (a Buffer, perhaps
// shared with other connections), a PUBLISH not yet encoded (OutPublish: the shared PreparedPublish plus this
// subscriber's variant) or a short acknowledgement (a number). At the flush the items are written into ONE new
// Buffer (pooled by Node below 4 KiB), so a turn's output is one transport write of one chunk; only large payloads
// (>= SPLIT_PAYLOAD_BYTES) stay chunks of their own, uncopied.
//
// Why (issue #10, QoS 1 at 10,000 msg/s): a Buffer per encoded PUBLISH and per PUBACK, and a corked writev of N
// chunks (a request object per chunk in Node's Writable, the chunk array, the WriteWrap), were ~900 of the ~2,100
// bytes allocated per message (bench/tools/lat-alloc.ts), i.e. ~40 % of the scavenges behind the latency tail.
import type { PreparedPublish, ProtocolVersion, PublishVariant, QoS } from "../codec/index.ts";
import { MAX_PACKET_ID } from "../util/limits.ts";

/** Payloads from this size on are written as a chunk of their own after their PUBLISH's header (never copied). */
export const SPLIT_PAYLOAD_BYTES = 1024;

/** A PUBLISH for one subscriber, encoded at the flush (its variant is fixed when it is taken). */
export class OutPublish implements PublishVariant {
  constructor(
    readonly prepared: PreparedPublish,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly dup: boolean,
    readonly packetId: number | undefined,
    readonly subscriptionIdentifiers: readonly number[] | undefined,
    readonly messageExpiryInterval: number | undefined,
    readonly topicAlias: number | undefined,
    readonly omitTopic: boolean | undefined,
  ) {}
}

/**
 * A short acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP without reason code and properties: 3.1.1, and 5.0 with
 * reason code 0 and no properties, 5.0 [MQTT-3.4.2-1] and 3.5.2.1, 3.6.2.1, 3.7.2.1) as one number: its first byte
 * << 16 | packet identifier. No object, no Buffer until the flush.
 */
export type ShortAck = number;

export type OutItem = Buffer | OutPublish | ShortAck;

/** The short form's number, or -1 when the packet identifier is out of range (the caller encodes, which throws). */
export function shortAck(firstByte: number, packetId: number): ShortAck {
  return packetId >= 1 && packetId <= MAX_PACKET_ID && packetId === (packetId | 0) ? (firstByte << 16) | packetId : -1;
}

/** Bytes a short acknowledgement takes on the wire. */
export const SHORT_ACK_BYTES = 4;

/**
 * The chunks to write for `items`: `total` bytes in all, of which `apart` are large payloads or Buffers written as
 * chunks of their own. One Buffer holds everything else, in order.
 */
export function assemble(items: readonly OutItem[], total: number, apart: number, version: ProtocolVersion): Buffer[] {
  const region = Buffer.allocUnsafe(total - apart);
  const chunks: Buffer[] = [];
  let start = 0;
  let off = 0;
  for (const it of items) {
    if (typeof it === "number") {
      region[off] = it >>> 16;
      region[off + 1] = 2;
      region[off + 2] = (it >>> 8) & 0xff;
      region[off + 3] = it & 0xff;
      off += SHORT_ACK_BYTES;
    } else if (it instanceof OutPublish) {
      const prepared = it.prepared;
      const split = prepared.payloadAtLeast(SPLIT_PAYLOAD_BYTES);
      off = prepared.encodeInto(region, off, version, it, !split);
      if (split) {
        chunks.push(region.subarray(start, off), prepared.payload);
        start = off;
      }
    } else if (it.length >= SPLIT_PAYLOAD_BYTES) {
      if (off > start) chunks.push(region.subarray(start, off));
      chunks.push(it);
      start = off;
    } else {
      off += it.copy(region, off);
    }
  }
  // The sizes were counted when the items were taken: a mismatch would send garbage, so it is a bug to stop at.
  if (off !== region.length) throw new Error(`outbox: assembled ${off} bytes, counted ${region.length}`);
  if (off > start) chunks.push(start === 0 ? region : region.subarray(start, off));
  return chunks;
}
