// The index snapshot: the queue logs' in-memory indexes (seq → message id, append time, meta; seq-index.ts),
// written at a clean close and read at the next open instead of scanning every log entry and message key. At 1 M
// queued messages that scan decodes 1 M msgpack values and walks 1 M message keys (~1.6 s of CPU, and every data
// page of the store mapped in); the snapshot is ~250 records of typed-array pages copied back (tens of ms).
//
// Crash safety first: the snapshot is only ever a shortcut to what the scan would rebuild.
//  - It is written at close, after the final flush, in one transaction: a crash before it leaves no snapshot.
//  - Open removes it (awaited) before the store accepts any write, so after a crash later on there is none.
//  - It is validated at open: it records the backend's write generation after its own transaction (LMDB's last
//    transaction id, one per write() call), so any later write by anyone — an older Wharf that ignores
//    snapshots, a repair tool, a test tampering with the store — makes it stale; so do differing entry counts of
//    the log, message and count spaces, or a log whose first/last stored seq differs. A stale or unreadable
//    snapshot is ignored (the open scans), never trusted.
// Reference counts are still recounted from the restored ids and checked against the stored count records; any
// disagreement falls back to the full audit (engine-load.ts).
import { endianness } from "node:os";
import { Space } from "./keys.ts";
import type { Key } from "./keys.ts";
import type { KvBackend, KvOp } from "./kv.ts";
import { newPage, PAGE, SeqIndex } from "./seq-index.ts";
import type { MetaColumn, SeqPage } from "./seq-index.ts";
import type { LogState } from "./engine-state.ts";
import type { QueueEntryMeta } from "./types.ts";

/** Meta-space group of the snapshot's records: id 0 the header, then per log its record and its pages. */
export const SNAPSHOT_GROUP = "snapshot";
const VERSION = 1;
const LITTLE_ENDIAN = endianness() === "LE";

interface Header {
  v: number;
  le: boolean;
  /** Backend write generation after the snapshot's own transaction. */
  gen: number;
  qlog: number;
  msg: number;
  ref: number;
  nextId: number;
  logs: number;
}

interface LogRecord {
  k: string;
  first: number;
  last: number;
  size: number;
  pages: number;
}

interface PageRecord {
  i: number;
  n: number;
  ids: Buffer;
  at: Buffer;
  c: [key: string, kind: "num" | "bool", data: Buffer][];
  o: [slot: number, meta: QueueEntryMeta][];
}

/** What open() gets from a valid snapshot. */
export interface LoadedSnapshot {
  /** keyText(queue) → the log's entries. */
  readonly logs: Map<string, SeqIndex>;
  readonly nextId: number;
  readonly messages: number;
}

export type SnapshotState =
  | { readonly status: "absent" }
  | { readonly status: "stale"; readonly reason: string; readonly keys: Key[] }
  | { readonly status: "valid"; readonly snapshot: LoadedSnapshot; readonly keys: Key[] };

function bytes(a: Float64Array | Uint8Array): Buffer {
  return Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)); // a copy: the page lives on
}

function f64(b: unknown, what: string): Float64Array {
  if (!(b instanceof Uint8Array) || b.byteLength !== PAGE * 8) throw new Error(`${what}: not ${PAGE} float64s`);
  const out = new Float64Array(PAGE);
  new Uint8Array(out.buffer).set(b); // copied: aligned, and owned
  return out;
}

function u8(b: unknown, what: string): Uint8Array {
  if (!(b instanceof Uint8Array) || b.byteLength !== PAGE) throw new Error(`${what}: not ${PAGE} bytes`);
  return new Uint8Array(b);
}

/**
 * The ops that write the snapshot of `logs` (nothing when they hold fewer than `minEntries` entries: a small store
 * scans fast). `gen` is the generation the backend will be at once these ops are written as one write().
 */
export function snapshotOps(kv: KvBackend, logs: Iterable<LogState>, nextId: number, minEntries: number): KvOp[] {
  const records: unknown[] = [];
  let total = 0;
  let count = 0;
  for (const st of logs) {
    if (st.entries.size === 0) continue;
    const pages: PageRecord[] = [];
    let first = Infinity;
    let last = -Infinity;
    for (const p of st.entries.pages()) {
      pages.push({
        i: p.index,
        n: p.count,
        ids: bytes(p.ids),
        at: bytes(p.at),
        c: [...p.cols].map(([k, c]) => [k, c.kind, bytes(c.data)]),
        o: [...p.odd],
      });
      for (let o = 0; o < PAGE; o++) {
        if (Number.isNaN(p.ids[o]!)) continue;
        first = Math.min(first, p.index * PAGE + o);
        break;
      }
      for (let o = PAGE - 1; o >= 0; o--) {
        if (Number.isNaN(p.ids[o]!)) continue;
        last = Math.max(last, p.index * PAGE + o);
        break;
      }
    }
    const rec: LogRecord = { k: st.key, first, last, size: st.entries.size, pages: pages.length };
    records.push(rec, ...pages);
    total += st.entries.size;
    count++;
  }
  if (total < Math.max(1, minEntries)) return [];
  const header: Header = {
    v: VERSION,
    le: LITTLE_ENDIAN,
    gen: kv.generation() + 1,
    qlog: kv.count(Space.QueueLog),
    msg: kv.count(Space.Message),
    ref: kv.count(Space.Refcount),
    nextId,
    logs: count,
  };
  return [header, ...records].map((value, i) => ({ space: Space.Meta, key: [SNAPSHOT_GROUP, i], value }));
}

/** Reads and validates the snapshot, if any (its keys are returned so that open can remove it either way). */
export function readSnapshot(kv: KvBackend): SnapshotState {
  const keys: Key[] = [];
  const values: unknown[] = [];
  for (const e of kv.group(Space.Meta, SNAPSHOT_GROUP)) {
    keys.push(e.key);
    values.push(e.value);
  }
  if (keys.length === 0) return { status: "absent" };
  try {
    return { status: "valid", snapshot: parse(kv, values), keys };
  } catch (e) {
    return { status: "stale", reason: e instanceof Error ? e.message : String(e), keys };
  }
}

function rec(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what} is not a record`);
  return v as Record<string, unknown>;
}

function int(o: Record<string, unknown>, f: string, what: string): number {
  const v = o[f];
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new Error(`${what}.${f} is not an integer`);
  return v;
}

function parse(kv: KvBackend, values: unknown[]): LoadedSnapshot {
  const h = rec(values[0], "header");
  if (h.v !== VERSION) throw new Error(`version ${String(h.v)}`);
  if (h.le !== LITTLE_ENDIAN) throw new Error("written on a machine of the other byte order");
  // Cheap checks first: any write since the snapshot moved the generation.
  const gen = kv.generation();
  if (int(h, "gen", "header") !== gen)
    throw new Error(`written at generation ${String(h.gen)}, the store is at ${gen}`);
  for (const [f, space] of [
    ["qlog", Space.QueueLog],
    ["msg", Space.Message],
    ["ref", Space.Refcount],
  ] as const) {
    const n = kv.count(space);
    if (int(h, f, "header") !== n) throw new Error(`${space}: ${String(h[f])} entries recorded, ${n} stored`);
  }
  const logs = new Map<string, SeqIndex>();
  let at = 1;
  let total = 0;
  const nLogs = int(h, "logs", "header");
  for (let l = 0; l < nLogs; l++) {
    const r = rec(values[at++], `log ${l}`);
    const key = r.k;
    if (typeof key !== "string" || logs.has(key)) throw new Error(`log ${l}: bad key`);
    const first = int(r, "first", key);
    const last = int(r, "last", key);
    const stored = kv.range(Space.QueueLog, key, 0, 1)[0]?.key[1];
    if (stored !== first || kv.lastId(Space.QueueLog, key) !== last)
      throw new Error(
        `log ${key}: first/last seq ${first}/${last} recorded, ${String(stored)}/${String(kv.lastId(Space.QueueLog, key))} stored`,
      );
    const pages: SeqPage[] = [];
    const nPages = int(r, "pages", key);
    let size = 0;
    for (let p = 0; p < nPages; p++) {
      const page = parsePage(rec(values[at++], `${key} page ${p}`), key);
      size += page.count;
      pages.push(page);
    }
    if (size !== int(r, "size", key))
      throw new Error(`log ${key}: pages hold ${size} entries, ${String(r.size)} recorded`);
    logs.set(key, SeqIndex.fromPages(pages));
    total += size;
  }
  if (at !== values.length) throw new Error(`${values.length - at} records too many`);
  if (total !== h.qlog) throw new Error(`logs hold ${total} entries, ${String(h.qlog)} recorded`);
  return { logs, nextId: int(h, "nextId", "header"), messages: int(h, "msg", "header") };
}

function parsePage(r: Record<string, unknown>, key: string): SeqPage {
  const what = `log ${key} page`;
  const page = newPage(int(r, "i", what));
  const ids = f64(r.ids, `${what} ids`);
  page.ids.set(ids);
  page.at.set(f64(r.at, `${what} at`));
  let count = 0;
  for (let o = 0; o < PAGE; o++) if (!Number.isNaN(ids[o]!)) count++;
  if (count !== int(r, "n", what) || count === 0) throw new Error(`${what} ${page.index}: ${count} entries`);
  page.count = count;
  if (!Array.isArray(r.c) || !Array.isArray(r.o)) throw new Error(`${what}: no columns`);
  for (const c of r.c as unknown[]) {
    if (!Array.isArray(c) || typeof c[0] !== "string") throw new Error(`${what}: bad column`);
    const col: MetaColumn =
      c[1] === "num" ? { kind: "num", data: f64(c[2], what) } : { kind: "bool", data: u8(c[2], what) };
    if (c[1] !== "num" && c[1] !== "bool") throw new Error(`${what}: column kind ${String(c[1])}`);
    page.cols.set(c[0], col);
  }
  for (const x of r.o as unknown[]) {
    if (!Array.isArray(x) || typeof x[0] !== "number" || typeof x[1] !== "object" || x[1] === null)
      throw new Error(`${what}: bad meta`);
    page.odd.set(x[0], x[1] as QueueEntryMeta);
  }
  return page;
}
