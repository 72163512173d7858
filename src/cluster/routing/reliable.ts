// At-least-once forwarding of QoS 1/2 messages between nodes, with duplicates removed by the receiver.
//
// The sender numbers every QoS 1/2 forward to a peer (per peer, from 1) and keeps it (the frame's parts, which are
// the shared encoded head and the message's payload: no copy) until the peer acknowledges it. When the link comes up
// again after a break, everything unacknowledged is sent again, in order. The receiver routes a numbered frame only
// the first time it sees that number (a retransmission, or a frame that was both queued in the link and resent, is
// dropped) and acknowledges cumulatively, once per event-loop tick per sender.
//
// Each numbered frame starts with a 20-byte header:
//   u32 epoch   random per sender process: a sender that restarted numbers from 1 again, in a new epoch
//   f64 seq     this frame's number
//   f64 floor   the sender's oldest unacknowledged number: everything below it was acknowledged, so a receiver that
//               knows nothing of this epoch yet (it restarted, or this is its first frame) starts there
// and an acknowledgement (ForwardAck) is `u32 epoch | f64 upTo` (every number <= upTo was received).
//
// Bounded: a sender keeps at most `maxBytes` of unacknowledged forwards per peer (payload bytes); past that a new
// QoS 1/2 forward to that peer is refused (the publish counts as refused, as at the link's own limit). A peer that
// leaves the membership takes its unacknowledged forwards with it.
import { randomInt } from "node:crypto";

export const RELIABLE_HEADER_BYTES = 20;
/** Default bound of unacknowledged forwards per peer. */
export const DEFAULT_UNACKED_BYTES = 32 * 1024 * 1024;

interface Pending {
  readonly seq: number;
  readonly type: number;
  readonly parts: readonly Buffer[];
  readonly bytes: number;
}

interface PeerOut {
  next: number;
  /** In seq order. */
  readonly pending: Pending[];
  /** Index of the first still-pending entry (entries before it are acknowledged; compacted now and then). */
  head: number;
  bytes: number;
}

export interface OutboxStats {
  /** Forwards waiting for an acknowledgement, all peers. */
  unacked: number;
  unackedBytes: number;
  /** Forwards sent again after a link came back. */
  resent: number;
}

export class ForwardOutbox {
  /** This process's epoch (u32, never 0). */
  readonly epoch = randomInt(1, 0xffffffff);
  readonly #peers = new Map<string, PeerOut>();
  #resent = 0;

  constructor(private readonly maxBytes = DEFAULT_UNACKED_BYTES) {}

  /**
   * Numbers a forward of `parts` to `node` and keeps it until acknowledged: the frame's parts (header first), or
   * undefined when the peer's unacknowledged forwards are at the bound.
   */
  add(node: string, type: number, parts: readonly Buffer[]): Buffer[] | undefined {
    let p = this.#peers.get(node);
    if (p === undefined) this.#peers.set(node, (p = { next: 1, pending: [], head: 0, bytes: 0 }));
    let bytes = 0;
    for (const b of parts) bytes += b.length;
    if (p.bytes + bytes > this.maxBytes) return undefined;
    const seq = p.next++;
    p.pending.push({ seq, type, parts, bytes });
    p.bytes += bytes;
    return [this.#header(seq, p), ...parts];
  }

  /** Takes back the forward add() just numbered for `node`, which the link refused: its number is used again. */
  unadd(node: string): void {
    const p = this.#peers.get(node);
    const e = p?.pending.pop();
    if (p === undefined || e === undefined) return;
    p.bytes -= e.bytes;
    p.next--;
  }

  /** A ForwardAck from `node`. */
  acked(node: string, body: Buffer): void {
    if (body.length < 12 || body.readUInt32BE(0) !== this.epoch) return; // for an earlier process of ours
    const upTo = body.readDoubleBE(4);
    const p = this.#peers.get(node);
    if (p === undefined) return;
    while (p.head < p.pending.length && p.pending[p.head]!.seq <= upTo) {
      p.bytes -= p.pending[p.head]!.bytes;
      p.head++;
    }
    if (p.head === p.pending.length) {
      p.pending.length = 0;
      p.head = 0;
    } else if (p.head > 1024 && p.head * 2 > p.pending.length) {
      p.pending.splice(0, p.head);
      p.head = 0;
    }
  }

  /** The link to `node` came (back) up: sends every unacknowledged forward again, in order. */
  resend(node: string, send: (type: number, parts: Buffer[]) => boolean): void {
    const p = this.#peers.get(node);
    if (p === undefined) return;
    for (let i = p.head; i < p.pending.length; i++) {
      const e = p.pending[i]!;
      if (!send(e.type, [this.#header(e.seq, p), ...e.parts])) return; // the link is full: the next "up" retries
      this.#resent++;
    }
  }

  /** `node` left the membership: what it did not acknowledge is dropped. */
  drop(node: string): void {
    this.#peers.delete(node);
  }

  stats(): OutboxStats {
    let unacked = 0;
    let unackedBytes = 0;
    for (const p of this.#peers.values()) {
      unacked += p.pending.length - p.head;
      unackedBytes += p.bytes;
    }
    return { unacked, unackedBytes, resent: this.#resent };
  }

  #header(seq: number, p: PeerOut): Buffer {
    const h = Buffer.allocUnsafe(RELIABLE_HEADER_BYTES);
    h.writeUInt32BE(this.epoch, 0);
    h.writeDoubleBE(seq, 4);
    h.writeDoubleBE(p.head < p.pending.length ? p.pending[p.head]!.seq : seq, 12);
    return h;
  }
}

interface PeerIn {
  epoch: number;
  /** Every number below it was received. */
  expected: number;
  /** Received numbers above `expected` (out of order: a retransmission behind frames queued in the link). */
  readonly above: Set<number>;
}

export class ForwardInbox {
  readonly #peers = new Map<string, PeerIn>();
  readonly #due = new Set<string>();
  /** Numbered frames dropped as already received. */
  duplicates = 0;

  /** Whether the numbered frame `body` from `from` is new (route it); either way an acknowledgement becomes due. */
  accept(from: string, body: Buffer): boolean {
    if (body.length < RELIABLE_HEADER_BYTES) throw new RangeError("numbered forward shorter than its header");
    const epoch = body.readUInt32BE(0);
    const seq = body.readDoubleBE(4);
    const floor = body.readDoubleBE(12);
    let p = this.#peers.get(from);
    if (p === undefined || p.epoch !== epoch) {
      this.#peers.set(from, (p = { epoch, expected: floor, above: new Set() }));
    } else if (floor > p.expected) {
      // Acknowledged before (by us, or by our previous process): nothing below the floor will come again.
      for (const s of p.above) if (s < floor) p.above.delete(s);
      p.expected = floor;
    }
    this.#due.add(from);
    if (seq < p.expected || p.above.has(seq)) {
      this.duplicates++;
      return false;
    }
    if (seq === p.expected) {
      p.expected++;
      while (p.above.delete(p.expected)) p.expected++;
    } else p.above.add(seq);
    return true;
  }

  /** Whether acknowledgements wait to be sent (flush() them once per tick). */
  get due(): boolean {
    return this.#due.size > 0;
  }

  /** One cumulative ForwardAck per sender with something new. */
  flush(send: (node: string, body: Buffer) => void): void {
    for (const from of this.#due) {
      const p = this.#peers.get(from);
      if (p === undefined) continue;
      const b = Buffer.allocUnsafe(12);
      b.writeUInt32BE(p.epoch, 0);
      b.writeDoubleBE(p.expected - 1, 4);
      send(from, b);
    }
    this.#due.clear();
  }
}
