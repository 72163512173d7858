// Decoder fuzzing shared by test/unit/codec/fuzz.test.ts (short run) and test/fuzz/run-fuzz.ts
// (long run). Inputs are random bytes or mutations (bit flips, byte edits, truncations,
// insertions, deletions, Remaining Length edits, splices) of valid encodings, fed in random
// chunkings. Invariants: the decoder yields packets or throws CodecError (never anything else,
// never an internal error), each input finishes in bounded steps, after draining bufferedBytes
// never exceeds maxPacketSize, and every packet it accepts re-encodes to bytes that decode to a
// packet with the same encoding (decode and encode agree on everything the decoder lets through).
import { CodecError, Decoder, encode } from "../../src/codec/index.ts";
import type { Packet, ProtocolVersion } from "../../src/codec/index.ts";
import { Rng, randomPacket } from "./codec-random.ts";

export interface FuzzStats {
  inputs: number;
  bytes: number;
  packets: number;
  codecErrors: number;
  /** Inputs left undecided (incomplete trailing packet). */
  incomplete: number;
  /** Count of CodecError by code. */
  byCode: Record<string, number>;
}

interface Seed {
  version: ProtocolVersion;
  /** Starts with CONNECT: a server-side decoder with unknown version can read it. */
  serverSide: boolean;
  bytes: Buffer;
}

/** Valid encoded streams of 1-4 packets to mutate. */
export function buildCorpus(rng: Rng, size: number): Seed[] {
  const seeds: Seed[] = [];
  for (let i = 0; i < size; i++) {
    const version = rng.pick([3, 4, 5] as const);
    const serverSide = rng.bool(0.3);
    const parts: Buffer[] = [];
    if (serverSide) parts.push(encode(randomPacket(rng, version, 1), version));
    const n = rng.range(1, 3);
    for (let k = 0; k < n; k++) {
      const p = randomPacket(rng, version);
      if (p.type === 3 && p.payload.length > 300) continue; // keep inputs small and fast
      parts.push(encode(p, version));
    }
    seeds.push({ version, serverSide, bytes: Buffer.concat(parts) });
  }
  return seeds;
}

function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = rng.range(1, 3);
  for (let r = 0; r < rounds; r++) {
    const len = b.length;
    switch (rng.int(9)) {
      case 0: // bit flips
        for (let k = rng.range(1, 3); k > 0 && len > 0; k--) b[rng.int(len)]! ^= 1 << rng.int(8);
        break;
      case 1: // random byte
        if (len > 0) b[rng.int(len)] = rng.int(256);
        break;
      case 2: // truncation
        b = b.subarray(0, rng.int(len + 1));
        break;
      case 3: {
        // insertion of random bytes
        const at = rng.int(len + 1);
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 8)), b.subarray(at)]);
        break;
      }
      case 4: {
        // deletion
        const at = rng.int(len + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + rng.range(1, 8))]);
        break;
      }
      case 5: // Remaining Length edit of the first packet
        if (len > 1) b[1] = rng.pick([0, 1, 2, 0x7f, 0x80, 0xff, rng.int(256), (b[1]! + rng.range(-3, 3)) & 0xff]);
        break;
      case 6: // continuation bytes: overlong / 5-byte / huge lengths
        if (len > 4) for (let k = 1; k <= rng.range(1, 4); k++) b[k] = rng.bool() ? 0xff : 0x80 | rng.int(128);
        break;
      case 7: // first byte: type and flags
        if (len > 0) b[0] = rng.int(256);
        break;
      default: {
        // splice: duplicate a segment elsewhere
        const s = rng.int(len + 1);
        const e = Math.min(len, s + rng.range(1, 16));
        const at = rng.int(len + 1);
        b = Buffer.concat([b.subarray(0, at), b.subarray(s, e), b.subarray(at)]);
      }
    }
  }
  return b;
}

function checkReencode(p: Packet, version: ProtocolVersion): void {
  const bytes = encode(p, version);
  const d = new Decoder({ protocolVersion: p.type === 1 ? undefined : version });
  d.push(bytes);
  const again = d.next();
  if (again === undefined || d.bufferedBytes !== 0)
    throw new Error(`re-encoding not decodable: ${bytes.toString("hex")}`);
  if (!encode(again, version).equals(bytes)) throw new Error(`re-encoding unstable: ${bytes.toString("hex")}`);
}

/** Feeds one input in random chunks and checks the invariants; throws an Error on violation. */
function feed(rng: Rng, input: Buffer, seed: Seed, maxPacketSize: number, stats: FuzzStats): void {
  const d = new Decoder({ maxPacketSize, protocolVersion: seed.serverSide ? undefined : seed.version });
  // Each next() either consumes >= 2 bytes, returns undefined or throws: bounded by bytes + chunks.
  let budget = input.length + 2;
  let pos = 0;
  while (pos < input.length) {
    const n = rng.bool(0.3) ? input.length - pos : rng.range(1, Math.min(64, input.length - pos));
    const chunk = rng.bool(0.5) ? input.subarray(pos, pos + n) : Buffer.from(input.subarray(pos, pos + n));
    pos += n;
    budget++;
    d.push(chunk);
    for (;;) {
      if (--budget < 0) throw new Error(`decoder did not make progress on ${input.toString("hex")}`);
      let p;
      try {
        p = d.next();
      } catch (e) {
        if (!(e instanceof CodecError))
          throw new Error(`non-CodecError thrown: ${String(e)} on ${input.toString("hex")}`);
        if (e.cause !== undefined) throw new Error(`internal error ${String(e.cause)} on ${input.toString("hex")}`);
        if (!(typeof e.reasonCode === "number" && e.reasonCode >= 0x80))
          throw new Error(`bad reason code ${e.reasonCode}`);
        // A dead decoder keeps throwing the same error.
        let again: unknown;
        try {
          d.next();
        } catch (e2) {
          again = e2;
        }
        if (again !== e) throw new Error("decoder not dead after an error");
        stats.codecErrors++;
        stats.byCode[e.code] = (stats.byCode[e.code] ?? 0) + 1;
        return;
      }
      if (p === undefined) break;
      stats.packets++;
      checkReencode(p, d.protocolVersion!);
    }
    if (d.bufferedBytes > maxPacketSize) {
      throw new Error(`bufferedBytes ${d.bufferedBytes} > maxPacketSize ${maxPacketSize} on ${input.toString("hex")}`);
    }
  }
  if (d.bufferedBytes > 0) stats.incomplete++;
}

export function newStats(): FuzzStats {
  return { inputs: 0, bytes: 0, packets: 0, codecErrors: 0, incomplete: 0, byCode: {} };
}

/** Runs `count` fuzz inputs from `seed`; `stats` accumulates (pass the same one across calls). */
export function runFuzz(seed: number, count: number, stats: FuzzStats = newStats(), corpusSize = 3000): FuzzStats {
  // Every rejected input constructs a CodecError, and V8 captures a stack trace for each one: 2.14-2.25 s of CPU
  // for the unit test's 200,000 inputs against 1.36-1.48 s without (3 runs each, 2026-12-07). Nothing here reads
  // those stacks (the checks use the class, code, reasonCode, cause and identity), so none is captured while the
  // loop runs (it is synchronous: no other code runs meanwhile). A failure keeps its message, which names the input.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fuzzLoop(seed, count, stats, corpusSize);
  } catch (e) {
    Error.stackTraceLimit = stackTraceLimit;
    throw new Error(e instanceof Error ? e.message : String(e), { cause: e });
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

function fuzzLoop(seed: number, count: number, stats: FuzzStats, corpusSize: number): FuzzStats {
  const rng = new Rng(seed);
  const corpus = buildCorpus(rng, corpusSize);
  for (let i = 0; i < count; i++) {
    const s = rng.pick(corpus);
    const kind = rng.int(20);
    // 5% pure random bytes, 10% valid inputs (sanity: must decode fully), 85% mutations.
    const input = kind === 0 ? rng.bytes(rng.range(1, 64)) : kind < 3 ? s.bytes : mutate(rng, s.bytes);
    const maxPacketSize = rng.bool(0.2) ? rng.range(2, 200) : 268_435_460;
    const before = stats.codecErrors;
    feed(rng, input, s, kind > 0 && kind < 3 ? 268_435_460 : maxPacketSize, stats);
    if (kind > 0 && kind < 3 && stats.codecErrors !== before) {
      throw new Error(`valid input rejected: ${input.toString("hex")} (v${s.version})`);
    }
    stats.inputs++;
    stats.bytes += input.length;
  }
  return stats;
}
