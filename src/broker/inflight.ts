// The QoS 1/2 in-flight window toward one client: the Map by packet identifier that Session keeps (insertion order
// = resend order), counting the payload bytes its entries hold. The window is bounded in messages (mqtt.maxInflight,
// capped by a 5.0 client's Receive Maximum) and in bytes (the session's maxQueuedBytes): with the default window of
// 1,000, a client that reads but never acknowledges could otherwise pin 1,000 x 1 MiB (maxPacketSize); with the
// byte bound it pins at most maxQueuedBytes (16 MiB) plus one message, like its queue.

interface HoldsPayload {
  readonly delivery: { readonly msg: { readonly payload: Buffer } };
}

export class InflightWindow<V extends HoldsPayload> extends Map<number, V> {
  /** Payload bytes of the entries (an entry in the PUBREL state still counts: it still references its message). */
  bytes = 0;

  override set(packetId: number, out: V): this {
    const old = super.get(packetId);
    if (old !== undefined) this.bytes -= old.delivery.msg.payload.length;
    this.bytes += out.delivery.msg.payload.length;
    return super.set(packetId, out);
  }

  override delete(packetId: number): boolean {
    const old = super.get(packetId);
    if (old === undefined) return false;
    this.bytes -= old.delivery.msg.payload.length;
    return super.delete(packetId);
  }

  override clear(): void {
    this.bytes = 0;
    super.clear();
  }

  /** Room for one more: under `limit` messages and, past the first one, under `maxBytes` (0 = no byte bound). */
  hasRoom(limit: number, maxBytes: number): boolean {
    const n = this.size;
    if (n === 0) return true;
    return n < limit && (maxBytes === 0 || this.bytes < maxBytes);
  }
}
