// Block-wise uploads (Block1, RFC 7959) for the CoAP bridge, reassembled here rather than by the `coap` package:
// its reassembly keys a transfer by token (libcoap's coap-client uses a new token per block, as RFC 7959 §2.3
// allows), keeps no size limit and throws on an out-of-order block. Every request datagram passes through
// Block1Assembler first (GuardedCoapServer._handle); a transfer is identified by the client's address and the
// request URI (path and query). It enforces:
//  - the message size: Size1 (the client's announced total) or the bytes received so far beyond the listener's
//    maximum packet size -> 4.13 Request Entity Too Large with Size1 = the maximum [RFC 7959 §2.9.3];
//  - the order: a block that does not continue the transfer -> 4.08 Request Entity Incomplete [RFC 7959 §2.9.2]
//    (a retransmission of the last block taken is answered 2.31 again, without storing it twice);
//  - a non-final block whose payload is not exactly its block size -> 4.00 [RFC 7959 §2.2];
//  - memory across all clients: transfers in progress hold at most `budget` bytes -> 5.03 beyond.
// The request reaches the bridge's handler without its Block1 option (so the package stores nothing) and with a
// BlockVerdict attached: answer 2.31 Continue, refuse, or handle the reassembled payload. A transfer left
// unfinished is dropped EXCHANGE_LIFETIME after its last block (247 s, RFC 7252 §4.8.2).
import type { AddressInfo } from "node:net";
import { Server, type CoapPacket, type CoapServerOptions } from "coap";
import type { Clock, TimerHandle } from "../../util/index.ts";

export const EXCHANGE_LIFETIME_MS = 247_000;
/** Largest block the server sends (SZX 6): a notification or response above it goes block-wise. */
export const BLOCK_SIZE = 1024;

export interface BlockOption {
  num: number;
  more: boolean;
  size: number;
}

/** Decodes a Block1/Block2 option value (0-3 bytes, NUM | M | SZX); undefined for the reserved SZX 7. */
export function parseBlockOption(value: Buffer): BlockOption | undefined {
  let v = 0;
  for (const b of value) v = v * 256 + b;
  const szx = v & 7;
  if (szx === 7 || value.length > 3) return undefined;
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, size: 2 ** (szx + 4) };
}

/** Encodes a block option value. */
export function blockOption(num: number, more: boolean, size: number): Buffer {
  const v = num * 16 + (more ? 8 : 0) + (Math.log2(size) - 4);
  if (v < 256) return Buffer.of(v);
  if (v < 65536) return Buffer.of(v >> 8, v & 255);
  return Buffer.of(v >> 16, (v >> 8) & 255, v & 255);
}

/** A CoAP error response: code ("4.13") and diagnostic text; Size1 for 4.13. */
export class CoapBridgeError extends Error {
  override readonly name = "CoapBridgeError";
  constructor(
    readonly code: string,
    message: string,
    readonly size1?: number,
  ) {
    super(message);
  }
}

/** What the assembler decided about one request datagram. */
export type BlockVerdict =
  | { kind: "refuse"; error: CoapBridgeError }
  | { kind: "continue"; block1: Buffer }
  | { kind: "complete"; block1: Buffer; payload: Buffer };

interface Transfer {
  parts: Buffer[];
  /** Byte offset the next block must start at. */
  next: number;
  lastNum: number;
  timer: TimerHandle | undefined;
}

function rawOption(packet: CoapPacket, name: string): Buffer | undefined {
  const o = packet.options?.find((x) => x.name === name);
  return o !== undefined && Buffer.isBuffer(o.value) ? o.value : undefined;
}

function uintOf(b: Buffer | undefined): number | undefined {
  if (b === undefined) return undefined;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/** The request URI's path and query, from the raw options: a transfer is one URI from one endpoint. */
function uriOf(packet: CoapPacket): string {
  let uri = "";
  for (const o of packet.options ?? []) {
    if (o.name === "Uri-Path") uri += `/${String(o.value)}`;
    else if (o.name === "Uri-Query") uri += `?${String(o.value)}`;
  }
  return uri;
}

export class Block1Assembler {
  readonly #transfers = new Map<string, Transfer>();
  #bytes = 0;

  constructor(
    private readonly maxSize: number,
    private readonly budget: number,
    private readonly clock: Clock,
  ) {}

  /** Bytes held by transfers in progress (tests, stats). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Checks one request datagram; undefined lets it through untouched. */
  check(packet: CoapPacket, rsinfo: AddressInfo): BlockVerdict | undefined {
    const raw = rawOption(packet, "Block1");
    const payload = packet.payload ?? Buffer.alloc(0);
    const size1 = uintOf(rawOption(packet, "Size1"));
    const refuse = (error: CoapBridgeError): BlockVerdict => ({ kind: "refuse", error });
    if (size1 !== undefined && size1 > this.maxSize) return refuse(this.#tooLarge());
    if (raw === undefined) return payload.length > this.maxSize ? refuse(this.#tooLarge()) : undefined;
    const block = parseBlockOption(raw);
    if (block === undefined) return refuse(new CoapBridgeError("4.00", "invalid Block1 option"));
    const key = `${rsinfo.address}:${rsinfo.port}${uriOf(packet)}`;
    const t = this.#transfers.get(key);
    const offset = block.num * block.size;
    // A retransmission of the block just taken (its 2.31 was lost): answer it again.
    if (t !== undefined && block.num === t.lastNum && offset + payload.length === t.next) {
      return { kind: "continue", block1: raw };
    }
    const fail = (e: CoapBridgeError): BlockVerdict => {
      if (t !== undefined) this.#forget(key, t);
      return refuse(e);
    };
    if (offset !== (t?.next ?? 0)) {
      return fail(new CoapBridgeError("4.08", `block ${block.num} does not continue the transfer`));
    }
    if (block.more && payload.length !== block.size) {
      return fail(new CoapBridgeError("4.00", `block ${block.num} has ${payload.length} bytes, not ${block.size}`));
    }
    if (offset + payload.length > this.maxSize) return fail(this.#tooLarge());
    if (block.more && this.#bytes + payload.length > this.budget) {
      return fail(new CoapBridgeError("5.03", "too many block-wise transfers in progress; retry later"));
    }
    if (!block.more) {
      const parts = t === undefined ? [payload] : [...t.parts, payload];
      if (t !== undefined) this.#forget(key, t);
      return { kind: "complete", block1: raw, payload: Buffer.concat(parts) };
    }
    const entry: Transfer = t ?? { parts: [], next: 0, lastNum: -1, timer: undefined };
    entry.timer?.cancel();
    entry.parts.push(Buffer.from(payload));
    entry.next = offset + payload.length;
    entry.lastNum = block.num;
    this.#bytes += payload.length;
    entry.timer = this.clock.setTimeout(() => this.#forget(key, entry), EXCHANGE_LIFETIME_MS);
    this.#transfers.set(key, entry);
    return { kind: "continue", block1: raw };
  }

  close(): void {
    for (const [k, t] of this.#transfers) this.#forget(k, t);
  }

  #forget(key: string, t: Transfer): void {
    t.timer?.cancel();
    if (this.#transfers.get(key) === t) this.#transfers.delete(key);
    for (const p of t.parts) this.#bytes -= p.length;
    t.parts = [];
  }

  #tooLarge(): CoapBridgeError {
    return new CoapBridgeError("4.13", `the message exceeds the limit of ${this.maxSize} bytes`, this.maxSize);
  }
}

/** The `coap` server with every request datagram checked by a Block1Assembler first. */
export class GuardedCoapServer extends Server {
  /** The verdicts on requests let through to the handler (keyed by the parsed packet the request wraps). */
  readonly verdicts = new WeakMap<CoapPacket, BlockVerdict>();

  constructor(
    options: CoapServerOptions,
    private readonly blocks: Block1Assembler,
  ) {
    super(options);
  }

  override _handle(packet: CoapPacket, rsinfo: AddressInfo): void {
    const isRequest = typeof packet.code === "string" && packet.code.startsWith("0.") && packet.code !== "0.00";
    if (isRequest && packet.ack !== true && packet.reset !== true) {
      const verdict = this.blocks.check(packet, rsinfo);
      if (verdict !== undefined) {
        packet.options = (packet.options ?? []).filter((o) => o.name !== "Block1");
        this.verdicts.set(packet, verdict);
      }
    }
    super._handle(packet, rsinfo);
  }
}
