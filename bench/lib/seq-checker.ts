// Delivery checks for every bench run: per stream (one publisher on one topic) and per subscriber,
// which sequence numbers arrived, how many twice, and how many after a higher one (reordered).
// A bitset per stream makes the hot path two array accesses and no allocation.

export class StreamChecker {
  private bits = new Uint8Array(128);
  /** Distinct sequence numbers seen. */
  received = 0;
  duplicates = 0;
  reordered = 0;
  maxSeq = -1;

  record(seq: number): boolean {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) this.grow(byte);
    const mask = 1 << (seq & 7);
    const cur = this.bits[byte]!;
    if ((cur & mask) !== 0) {
      this.duplicates++;
      return false;
    }
    this.bits[byte] = cur | mask;
    this.received++;
    if (seq < this.maxSeq) this.reordered++;
    else this.maxSeq = seq;
    return true;
  }

  /** Messages after the highest sequence number seen: never arrived, at the end of the stream. */
  tail(sent: number): number {
    return Math.max(0, sent - 1 - this.maxSeq);
  }

  /** Sequence numbers below `sent` that never arrived. */
  lost(sent: number): number {
    let seen = 0;
    const full = sent >>> 3;
    const n = Math.min(full, this.bits.length);
    for (let i = 0; i < n; i++) seen += popcount8(this.bits[i]!);
    if (full < this.bits.length) {
      const rest = sent & 7;
      if (rest > 0) seen += popcount8(this.bits[full]! & ((1 << rest) - 1));
    }
    return sent - seen;
  }

  /** Distinct sequence numbers at or above `sent`: messages nobody sent (a corrupted payload). */
  unexpected(sent: number): number {
    return this.received - (sent - this.lost(sent));
  }

  private grow(byte: number): void {
    let size = this.bits.length * 2;
    while (size <= byte) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bits);
    this.bits = next;
  }
}

function popcount8(b: number): number {
  b = b - ((b >> 1) & 0x55);
  b = (b & 0x33) + ((b >> 2) & 0x33);
  return (b + (b >> 4)) & 0x0f;
}

/** All streams one subscriber receives, indexed by stream id. */
export class SubscriberLedger {
  readonly streams: (StreamChecker | undefined)[] = [];
  /** Messages received, duplicates included. */
  total = 0;
  /** Payloads whose stream id this subscriber was not subscribed to. */
  stray = 0;

  constructor(expectedStreams: readonly number[]) {
    for (const id of expectedStreams) this.streams[id] = new StreamChecker();
  }

  /** Returns true when the message is new (not a duplicate). */
  record(streamId: number, seq: number): boolean {
    this.total++;
    const s = this.streams[streamId];
    if (s === undefined) {
      this.stray++;
      return false;
    }
    return s.record(seq);
  }
}

export interface DeliveryTotals {
  expected: number;
  received: number;
  lost: number;
  /** The part of `lost` at the end of streams (still queued when the run stopped waiting, or dropped late). */
  lostAtTail: number;
  duplicates: number;
  reordered: number;
  unexpected: number;
}

export interface PublisherDelivery extends DeliveryTotals {
  publisher: number;
  sent: number;
}

export function emptyTotals(): DeliveryTotals {
  return { expected: 0, received: 0, lost: 0, lostAtTail: 0, duplicates: 0, reordered: 0, unexpected: 0 };
}

/**
 * Sums the ledgers per publisher. `sent[streamId]` is how many messages were published on that
 * stream, `publisherOf[streamId]` which publisher owns it; every subscriber that holds a checker
 * for a stream was expected to receive every message of it.
 */
export function summarizeDelivery(
  ledgers: readonly SubscriberLedger[],
  sent: ArrayLike<number>,
  publisherOf: ArrayLike<number>,
  publishers: number,
): { total: DeliveryTotals & { stray: number }; perPublisher: PublisherDelivery[] } {
  const perPublisher: PublisherDelivery[] = [];
  for (let p = 0; p < publishers; p++) perPublisher.push({ publisher: p, sent: 0, ...emptyTotals() });
  for (let id = 0; id < sent.length; id++) perPublisher[publisherOf[id]!]!.sent += sent[id]!;
  let stray = 0;
  for (const ledger of ledgers) {
    stray += ledger.stray;
    ledger.streams.forEach((s, id) => {
      if (s === undefined) return;
      const n = sent[id] ?? 0;
      const row = perPublisher[publisherOf[id]!]!;
      const lost = s.lost(n);
      row.expected += n;
      row.received += n - lost;
      row.lost += lost;
      row.lostAtTail += s.tail(n);
      row.duplicates += s.duplicates;
      row.reordered += s.reordered;
      row.unexpected += s.unexpected(n);
    });
  }
  const total = { ...emptyTotals(), stray };
  for (const r of perPublisher) {
    total.expected += r.expected;
    total.received += r.received;
    total.lost += r.lost;
    total.lostAtTail += r.lostAtTail;
    total.duplicates += r.duplicates;
    total.reordered += r.reordered;
    total.unexpected += r.unexpected;
  }
  return { total, perPublisher };
}
