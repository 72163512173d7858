// Reading accepted TCP sockets into one buffer shared by all of them: Node's `onread` option of net.Socket (a
// documented API for the sockets a program creates), applied to the sockets net.Server accepts, for which Node
// offers no option.
//
// Why (issue #10, QoS 1 at 10,000 msg/s, 4 publishers -> 1 subscriber: a socket read carries 2-3 messages there).
// Node's default read path, per read: a 64 KiB backing store allocated, shrunk to the bytes read and wrapped in a
// new ArrayBuffer (which every scavenge then sweeps), a Buffer over it pushed through the Readable stream
// (readableAddChunk, emit('data')), and a process.nextTick (maybeReadMore) whose tick-queue drain runs Readable.read
// again and allocates a SafeMap (processPromiseRejections, Node 20): 3.7 % of the broker's busy time for that Map
// alone at 10k msg/s (stop 15's profile). With a user buffer libuv reads into it and Node calls back with the count
// (stream_base_commons.js onStreamRead): no ArrayBuffer, no stream push, no tick.
//
// The bytes are then copied into a Buffer of their own (from Node's shared pool below 4 KiB: no ArrayBuffer per
// read either), because the decoder keeps zero-copy slices of its input (payloads, a partial packet) and the
// shared buffer is overwritten by the next read of any socket. The copy is a memcpy of the read; a 64 KiB read of
// an open-loop publisher costs a few microseconds against ~600 messages' handling.
//
// Node keeps the option's buffer and callback under two internal symbols; they are found once on a probe socket
// made with the option (checked at run time, as noDelayOnListener checks Node's listening handle). Where they, or
// the handle's useUserBuffer(), are missing (another Node) the socket keeps Node's default path and 'data'. Node's
// own pause()/resume() of such a socket stop and restart the handle's reading (net.js), so backpressure is unchanged;
// end of stream and errors take the usual path ('end', 'error', 'close').
import net from "node:net";

/** The symbols under which a net.Socket keeps its `onread` buffer and callback, or undefined. */
interface UserReadSymbols {
  readonly buffer: symbol;
  readonly callback: symbol;
}

/** The accepted socket's native handle, as far as this module needs it (not in Node's typings). */
interface ReadableHandle {
  useUserBuffer?: (buf: Uint8Array) => void;
}

/** Bytes read per read call at most (Node's own default read size: libuv's suggested 64 KiB). */
export const SHARED_READ_BYTES = 64 * 1024;

function probeSymbols(): UserReadSymbols | undefined {
  try {
    const buffer = Buffer.alloc(1);
    const callback = (): boolean => true;
    // The option is typed on net.connect()'s options only; net.Socket's constructor takes it too (net.js).
    const options: net.SocketConstructorOpts & Pick<net.TcpSocketConnectOpts, "onread"> = {
      onread: { buffer, callback },
    };
    const probe = new net.Socket(options);
    let b: symbol | undefined;
    let c: symbol | undefined;
    const fields = probe as unknown as Record<symbol, unknown>;
    for (const s of Object.getOwnPropertySymbols(probe)) {
      if (fields[s] === buffer) b = s;
      else if (fields[s] === callback) c = s;
    }
    probe.destroy();
    return b !== undefined && c !== undefined ? { buffer: b, callback: c } : undefined;
  } catch {
    return undefined;
  }
}

const symbols = probeSymbols();
/** Made on first use: a process that never accepts a TCP socket does not hold it. */
let shared: Buffer | undefined;

/**
 * The buffer every plain TCP socket reads into (also raw.ts's handles): off the V8 heap (its address never moves),
 * made on first use.
 */
export function sharedReadBuffer(): Buffer {
  return (shared ??= Buffer.allocUnsafeSlow(SHARED_READ_BYTES));
}

/**
 * The first `n` bytes of the shared buffer in a Buffer of their own (from Node's pool below 4 KiB): the next read of
 * any socket overwrites the shared buffer, and the decoder keeps zero-copy slices of its input.
 */
export function copyRead(n: number): Buffer {
  const chunk = Buffer.allocUnsafe(n);
  sharedReadBuffer().copy(chunk, 0, 0, n);
  return chunk;
}

/** Node's callback for each `onRead`: made once per function, not per socket (a storm accepts thousands a second). */
const callbacks = new WeakMap<object, (this: net.Socket, nread: number) => void>();

function callbackFor(onRead: (this: net.Socket, chunk: Buffer) => void): (this: net.Socket, nread: number) => void {
  let cb = callbacks.get(onRead);
  if (cb === undefined) {
    // Node also passes the buffer read into: the shared one readIntoSharedBuffer gave the socket.
    cb = function (this: net.Socket, nread: number): void {
      onRead.call(this, copyRead(nread));
    };
    callbacks.set(onRead, cb);
  }
  return cb;
}

/**
 * Makes `socket` (just accepted, not read yet) read into the shared buffer and call `onRead` (with `this` = the
 * socket) with a Buffer of its own holding each read's bytes, instead of emitting 'data'. False when this Node does
 * not offer it: the caller listens to 'data'.
 */
export function readIntoSharedBuffer(socket: net.Socket, onRead: (this: net.Socket, chunk: Buffer) => void): boolean {
  const handle = (socket as unknown as { _handle?: ReadableHandle | null })._handle;
  if (symbols === undefined || typeof handle?.useUserBuffer !== "function") return false;
  const buf = sharedReadBuffer();
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[symbols.buffer] = buf;
  fields[symbols.callback] = callbackFor(onRead);
  handle.useUserBuffer(buf);
  return true;
}
