// Plain-TCP connections on libuv's TCP handle itself, without a net.Socket (issue #10, the connection storm).
//
// Why: a net.Socket is a Duplex stream: its constructor, ReadableState/WritableState, the 'data' machinery and
// the write path are Node JavaScript run (and, in a fresh process, compiled by TurboFan) for every connection.
// A bare Node server answering CONNACK on its first 5,000 held connections cost 90-94 µs of CPU per connect
// through net.Socket and 22-24 µs on the raw handle (bench/tools/raw-connack.mjs vs bare-connack.mjs under
// bench/tools/storm-rounds.ts, interleaved, load ~7): most of a fresh broker's cost per connect was Node's socket,
// not Wharf.
//
// What Node's net.Server still does: listen, accept and the listening handle. Its handle's `onconnection` is
// replaced once listening (listenTcp), so accepted handles come here instead of into `new Socket()`. The handle
// API used (onread, readStart/readStop, writeBuffer/writev with a WriteWrap, shutdown with a ShutdownWrap, close,
// getpeername, setNoDelay, and stream_wrap's shared `streamBaseState`) is the one node:net itself is written on
// (lib/net.js, lib/internal/stream_base_commons.js). `rawTcpAvailable()` checks it is there; without it (another
// runtime, a permission model forbidding process.binding) listenTcp falls back to net.Socket (TcpConnection).
//
// The behaviour is net.Socket's as the broker used it (a net.Server with allowHalfOpen false):
//  - reads: every chunk goes to the handler's onData; EOF from the peer ends our side too after the current tick
//    (as Node's Duplex does) and closes once the shutdown is done; a read error closes with that error.
//  - writes: one writeBuffer/writev per TransportConnection.write() (the same coalescing rules as TcpConnection);
//    bytes of writes libuv has not finished count as buffered (Node's writableLength); write() returns false above
//    the listener's mark, and onDrain follows when everything is written if more than Node's own socket mark
//    (16 KiB) was pending, as Node's 'drain'. Writes after end() or close are ignored (Node: !writable).
//  - end(): shutdown after the pending writes (libuv's uv_shutdown waits for them), then close when the peer closes
//    its side, or END_GRACE_MS later (the shared deadline list, as TcpConnection).
//  - close: the handler's onClose runs from the handle's close callback (a later event-loop phase, never inside
//    the call that closed), with the read or write error if one closed it.
import util from "node:util";
import type { ConnectionHandler, TransportConnection } from "../../broker/index.ts";
import type { DeadlineEntry, DeadlineList } from "../../util/index.ts";
import { copyRead, sharedReadBuffer } from "./user-read.ts";

/** node's internal stream_wrap binding: what lib/internal/stream_base_commons.js uses. */
interface StreamWrapBinding {
  /** Written by every read and write call of any stream handle: read it before anything else runs. */
  readonly streamBaseState: Int32Array;
  readonly kReadBytesOrError: number;
  readonly kArrayBufferOffset: number;
  readonly kBytesWritten: number;
  readonly kLastWriteWasAsync: number;
  readonly WriteWrap: new () => WriteReq;
  readonly ShutdownWrap: new () => ShutdownReq;
}

interface WriteReq {
  handle: RawHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  /** What libuv is writing from, kept alive until oncomplete (as Node's req.buffer / req._chunks). */
  data: Buffer | readonly Buffer[] | undefined;
  bytes: number;
}

interface ShutdownReq {
  handle: RawHandle;
  oncomplete: (this: ShutdownReq, status: number) => void;
}

/** An accepted libuv TCP handle (node's TCPWrap), as net.Server's `onconnection` receives it. */
export interface RawHandle {
  onread: ((this: RawHandle, buf: ArrayBuffer | undefined) => void) | null;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, buf: Buffer): number;
  writev(req: WriteReq, chunks: readonly Buffer[], allBuffers: boolean): number;
  shutdown(req: ShutdownReq): number;
  close(cb?: (this: RawHandle) => void): void;
  getpeername(out: PeerName): number;
  /** Reads go into `buf` (the same for every handle) and onread gets no ArrayBuffer, only the count. */
  useUserBuffer?(buf: Uint8Array): void;
  setNoDelay(on: boolean): number;
  [kRaw]?: RawTcpConnection;
}

interface PeerName {
  address?: string;
  port?: number;
  family?: string;
}

/** The listening handle's callback for accepted connections (err: a libuv error code, 0 = none). */
export type OnConnection = (this: unknown, err: number, handle: RawHandle | undefined) => void;

const kRaw = Symbol("wharf.tcp.raw");

function loadBinding(): StreamWrapBinding | undefined {
  try {
    const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
    if (typeof binding !== "function") return undefined;
    const b = binding.call(process, "stream_wrap") as Partial<StreamWrapBinding> | undefined;
    if (
      b === undefined ||
      !(b.streamBaseState instanceof Int32Array) ||
      typeof b.WriteWrap !== "function" ||
      typeof b.ShutdownWrap !== "function" ||
      typeof b.kReadBytesOrError !== "number" ||
      typeof b.kArrayBufferOffset !== "number" ||
      typeof b.kBytesWritten !== "number" ||
      typeof b.kLastWriteWasAsync !== "number"
    ) {
      return undefined;
    }
    return b as StreamWrapBinding;
  } catch {
    return undefined; // e.g. --experimental-permission refuses process.binding
  }
}

let binding: StreamWrapBinding | undefined | null = null;
function sw(): StreamWrapBinding | undefined {
  if (binding === null) binding = loadBinding();
  return binding;
}

/** True when raw TCP handles can be used in this process (the binding is there and shaped as expected). */
export function rawTcpAvailable(): boolean {
  return sw() !== undefined;
}

/** libuv's UV_EOF, the same on every platform (uv/errno.h). */
const UV_EOF = -4095;
/** Node's default writable mark of a socket (16 KiB in Node 20): above it Node's write() asks for a 'drain'. */
const NODE_SOCKET_MARK = 16 * 1024;

/** The Error node:net gives for a failed libuv call: message "read ECONNRESET", code, errno, syscall. */
function errnoError(err: number, syscall: string): Error {
  let code: string;
  try {
    code = util.getSystemErrorName(err);
  } catch {
    code = `Unknown system error ${err}`;
  }
  return Object.assign(new Error(`${syscall} ${code}`), { errno: err, code, syscall });
}

/** Flags of RawTcpConnection (one small integer instead of four booleans per connection). */
const ENDING = 1; // end() called: no more writes
const READ_ENDED = 2; // the peer's EOF arrived
const SHUT = 4; // our shutdown completed
const CLOSING = 8; // handle.close() called

/** How a connection's listener treats it, shared by all of its connections (tcp/index.ts SocketSetup). */
export interface RawSetup {
  readonly highWater: number;
  readonly kind: string;
  readonly onClosed: (() => void) | undefined;
  /** The END_GRACE_MS deadline list (tcp/index.ts). */
  readonly endGrace: () => DeadlineList;
  readonly now: () => number;
  /** Write rules (tcp/index.ts): whether `chunks` are copied into one buffer rather than written as a writev. */
  readonly joinChunks: (chunks: readonly Buffer[]) => boolean;
}

/** The END_GRACE_MS deadline after end(): made by end(), so an open connection carries no deadline fields. */
class RawEndGrace implements DeadlineEntry {
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineList: DeadlineList | undefined = undefined;
  constructor(private readonly conn: RawTcpConnection) {}

  onDeadline(): void {
    this.conn.destroy();
  }
}

export class RawTcpConnection implements TransportConnection {
  /** Read at accept (one getpeername): the address cannot be asked once the handle is closed (reset sockets). */
  readonly remoteAddress: string;
  /** Set by attachRaw: the broker's side of this connection. */
  handler: ConnectionHandler | undefined = undefined;
  /** The error that closed the connection, handed to the broker with onClose. */
  error: Error | undefined = undefined;
  /** Bytes of writes libuv has not completed (Node's writableLength). */
  #pending = 0;
  #flags = 0;
  #needDrain = false;
  #grace: RawEndGrace | undefined = undefined;

  constructor(
    private readonly handle: RawHandle,
    readonly setup: RawSetup,
  ) {
    const peer: PeerName = {};
    handle.getpeername(peer);
    this.remoteAddress = `${peer.address ?? "?"}:${peer.port ?? 0}`;
  }

  get kind(): string {
    return this.setup.kind;
  }

  get bufferedBytes(): number {
    return this.#pending;
  }

  write(chunks: readonly Buffer[]): boolean {
    if ((this.#flags & (ENDING | CLOSING)) !== 0) return true;
    const b = sw()!;
    const h = this.handle;
    const req = new b.WriteWrap();
    req.handle = h;
    req.oncomplete = onRawWritten;
    let data: Buffer | readonly Buffer[];
    let err: number;
    if (chunks.length === 1) {
      data = chunks[0]!;
      err = h.writeBuffer(req, data);
    } else if (this.setup.joinChunks(chunks)) {
      data = Buffer.concat(chunks);
      err = h.writeBuffer(req, data);
    } else {
      data = chunks;
      err = h.writev(req, chunks, true);
    }
    if (err !== 0) {
      this.#close(errnoError(err, "write")); // as Node: the socket is destroyed with the write's error
      return true;
    }
    const state = b.streamBaseState;
    if (state[b.kLastWriteWasAsync] !== 0) {
      // libuv holds the rest (the kernel's buffer was full): keep the bytes alive until it is done.
      const n = state[b.kBytesWritten]!;
      req.data = data;
      req.bytes = n;
      this.#pending += n;
      if (this.#pending >= NODE_SOCKET_MARK) this.#needDrain = true;
    }
    return this.#pending < this.setup.highWater;
  }

  /** A write libuv finished asynchronously (status < 0: it failed). */
  written(req: WriteReq, status: number): void {
    req.data = undefined;
    this.#pending -= req.bytes;
    if ((this.#flags & CLOSING) !== 0) return; // cancelled by close (UV_ECANCELED) or after it
    if (status < 0) {
      this.#close(errnoError(status, "write"));
      return;
    }
    if (this.#pending === 0 && this.#needDrain) {
      this.#needDrain = false;
      this.handler!.onDrain();
    }
  }

  end(): void {
    if ((this.#flags & (ENDING | CLOSING)) !== 0) return;
    this.#flags |= ENDING;
    const req = new (sw()!.ShutdownWrap)();
    req.handle = this.handle;
    req.oncomplete = onRawShutdown;
    // Waits for the pending writes; nonzero: nothing to wait for (ENOTCONN: the peer is gone) or it failed.
    if (this.handle.shutdown(req) !== 0) {
      this.shutDown();
      if ((this.#flags & CLOSING) !== 0) return;
    }
    if ((this.#flags & READ_ENDED) !== 0) return; // closes when the shutdown completes
    // The peer gets END_GRACE_MS to close its side; closed() removes the deadline.
    const list = this.setup.endGrace();
    list.add((this.#grace = new RawEndGrace(this)), this.setup.now());
  }

  /** Our shutdown completed: close if the peer's side is closed too. */
  shutDown(): void {
    this.#flags |= SHUT;
    if ((this.#flags & READ_ENDED) !== 0) this.#close(undefined);
  }

  /** After the client's DISCONNECT: close at once when nothing is pending (see TcpConnection.closeAfterGoodbye). */
  closeAfterGoodbye(): void {
    if ((this.#flags & CLOSING) !== 0) return;
    if (this.#pending > 0 || (this.#flags & ENDING) !== 0) this.end();
    else this.#close(undefined);
  }

  destroy(): void {
    this.#close(undefined);
  }

  pause(): void {
    if ((this.#flags & (CLOSING | READ_ENDED)) === 0) this.handle.readStop();
  }

  resume(): void {
    if ((this.#flags & (CLOSING | READ_ENDED)) === 0) this.handle.readStart();
  }

  /** A chunk, EOF or a read error (nread < 0). */
  readEnded(nread: number): void {
    if ((this.#flags & CLOSING) !== 0) return;
    if (nread !== UV_EOF) {
      this.#close(errnoError(nread, "read"));
      return;
    }
    this.#flags |= READ_ENDED;
    this.handle.readStop();
    if ((this.#flags & SHUT) !== 0) this.#close(undefined);
    // Not ending yet: end our side after this tick (Node's Duplex with allowHalfOpen false: onEndNT).
    else if ((this.#flags & ENDING) === 0) process.nextTick(endAfterEof, this);
  }

  #close(err: Error | undefined): void {
    if ((this.#flags & CLOSING) !== 0) return;
    this.#flags |= CLOSING;
    this.error ??= err;
    this.handle.close(onRawClosed); // no read or write callback follows, except cancelled writes' (ignored)
  }

  /** The handle is closed: the grace deadline of end() is not needed any more. */
  closed(): void {
    const g = this.#grace;
    if (g !== undefined) g.deadlineList?.remove(g);
    this.setup.onClosed?.();
    this.handler!.onClose(this.error);
  }
}

// Shared callbacks: `this` is the handle or request libuv calls back (as in node:net), no closure per connection.
function onRawRead(this: RawHandle, buf: ArrayBuffer | undefined): void {
  const b = binding!;
  const state = b.streamBaseState;
  const n = state[b.kReadBytesOrError]!;
  const conn = this[kRaw]!;
  if (n > 0) {
    // Read into the shared buffer (user-read.ts), or without useUserBuffer into an ArrayBuffer of its own.
    const chunk = buf === undefined ? copyRead(n) : Buffer.from(buf, state[b.kArrayBufferOffset], n);
    conn.handler!.onData(chunk);
  } else if (n < 0) {
    conn.readEnded(n);
  }
}
function onRawWritten(this: WriteReq, status: number): void {
  this.handle[kRaw]!.written(this, status);
}
function onRawShutdown(this: ShutdownReq): void {
  this.handle[kRaw]!.shutDown();
}
function onRawClosed(this: RawHandle): void {
  this[kRaw]!.closed();
}
function endAfterEof(conn: RawTcpConnection): void {
  conn.end();
}

/** Wires `conn`'s handle to it (conn.handler must be set) and starts reading. */
export function startRaw(handle: RawHandle, conn: RawTcpConnection): void {
  handle[kRaw] = conn;
  handle.onread = onRawRead;
  // One buffer for every socket's reads instead of a 64 KiB allocation shrunk into an ArrayBuffer per read
  // (user-read.ts has the figures); without useUserBuffer, libuv's default allocation and an ArrayBuffer.
  if (typeof handle.useUserBuffer === "function") handle.useUserBuffer(sharedReadBuffer());
  handle.readStart();
}

/** Closes a handle refused before it became a connection (connection limit). */
export function refuseRaw(handle: RawHandle): string {
  const peer: PeerName = {};
  handle.getpeername(peer);
  handle.close();
  return `${peer.address ?? "?"}:${peer.port ?? 0}`;
}

/** The error Node's net.Server emits for a failed accept. */
export function acceptError(err: number): Error {
  return errnoError(err, "accept");
}
