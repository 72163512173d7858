// The HTTP POSTs of webhooks and of the OTLP exporter, sent from one worker thread (node:worker_threads) instead of
// the broker's event loop.
//
// Why: undici's sockets are net.Sockets of another shape (hidden class) than the broker's client sockets. With them
// on the main thread, Node's stream functions that every client write runs through (Writable.write,
// writeOrBuffer, onwrite, writevGeneric, Readable.read…) saw two maps and V8 deoptimised them for "wrong map"
// (--trace-deopt), then ran them polymorphic: one webhook subscribed to connect/disconnect alone cost the broker
// +47 % CPU per message in fan-in QoS 1 (docs/benchmarks.md, stop 14), although it sent a request or two per
// benchmark run. In a worker, undici, its sockets and its parser live in another isolate: the main thread's stream
// code only ever sees the broker's sockets. The main thread posts one message per request (the body copied, moved
// when its caller gives it away, or shared when it is in a SharedArrayBuffer: see post()) and gets back the status or
// the error.
//
// Everything else stays on the main thread, unchanged: the webhook buffer, batching, drop counting, retries with
// backoff, the circuit breaker, the HMAC signature, the timeout (an abort message), the metrics; and the OTLP
// batcher's bound on requests in flight. The worker runs plain CommonJS, evaluated (as argon2-verifier.ts), with no
// execArgv of the broker (no tsx loader, no --import preloads): ~10 MB of RSS, started when a webhook or an OTLP
// exporter is configured (warm()) or else by the first POST. It keeps
// the process alive only while a request is outstanding. A worker that dies fails its outstanding requests (the
// callers count them as failed, as a network error) and is replaced by the next POST.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

// Nothing of the worker's may run beside the broker's traffic but its requests. Two things did, at the first real
// POST, i.e. right in the first traffic: the worker's start (~0.25 s of CPU: an isolate, undici loaded) and, after its
// first response, V8 compiling undici's HTTP parser (llhttp, WebAssembly) again with its optimising tier on a
// background thread (~0.11 s of CPU, found by thread: gone with --liftoff-only or --no-liftoff). A broker pinned to one
// core shares that core with both: the ops benchmark's fan-in brokers with the webhook spent 0.13-1.2 µs per message
// on threads other than the main one against 0.06 without it (docs/benchmarks.md, stop 16). So:
// - The worker makes one POST to a loopback HTTP server of its own (closed after it) before it says "ready", and a
//   server awaits that before its listeners open (ready()). A warm-up that fails is ignored.
// - WebAssembly stays in the baseline tier (Liftoff): `--liftoff-only`, set before undici compiles its parser. V8's
//   flags are per process: this holds for any WebAssembly compiled afterwards in the broker's process, and the
//   broker runs none but this parser (a few µs per response, one response per webhook batch or OTLP request).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
require("node:v8").setFlagsFromString("--liftoff-only");
const { request } = require(workerData.undici);
const aborts = new Map();
async function warmUp() {
  const server = require("node:http").createServer((q, r) => { q.resume(); q.on("end", () => r.end("{}")); });
  await new Promise((resolve, reject) => { server.once("error", reject); server.listen(0, "127.0.0.1", resolve); });
  try {
    const res = await request("http://127.0.0.1:" + server.address().port + "/", {
      method: "POST", body: "{}", headers: { "content-type": "application/json" }, headersTimeout: 5000, bodyTimeout: 5000,
    });
    await res.body.dump();
  } finally {
    server.closeAllConnections();
    server.close();
  }
}
warmUp().then(() => parentPort.postMessage({ ready: true, ok: true }), () => parentPort.postMessage({ ready: true, ok: false }));
parentPort.on("message", (m) => {
  if (m.abort !== undefined) { aborts.get(m.abort)?.abort(); return; }
  const ac = new AbortController();
  aborts.set(m.id, ac);
  const body = m.body instanceof Uint8Array ? Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength) : m.body;
  const opts = { method: "POST", headers: m.headers, body, signal: ac.signal };
  if (m.timeoutMs > 0) { opts.headersTimeout = m.timeoutMs; opts.bodyTimeout = m.timeoutMs; }
  request(m.url, opts)
    .then(async (res) => {
      await res.body.dump();
      parentPort.postMessage({ id: m.id, status: res.statusCode });
    })
    .catch((err) => {
      parentPort.postMessage({ id: m.id, error: String(err && err.message || err), code: err && err.code, name: err && err.name });
    })
    .finally(() => aborts.delete(m.id));
});
`;

const undiciPath = createRequire(import.meta.url).resolve("undici");

/** One POST: the body as a string or bytes (copied to the worker by structured cloning unless `transfer`). */
export interface HttpPost {
  url: string;
  body: string | Uint8Array;
  headers: Record<string, string>;
  /** Aborting rejects the POST (the worker aborts the request). */
  signal?: AbortSignal;
  /**
   * The caller gives the bytes' ArrayBuffer away: it is moved to the worker (detached on this thread) instead of
   * copied. Only for bytes in an ArrayBuffer of the caller's own that it never reads or writes again (the OTLP
   * batcher's finished request: ~650 KB that were copied twice per request, once into the message and once out of
   * it in the worker, each into freshly allocated memory).
   */
  transfer?: boolean;
  /** undici's headersTimeout and bodyTimeout (ms); 0 or absent: undici's defaults. */
  timeoutMs?: number;
}

/** An error the worker's request ended with, rebuilt on this side (message, code, name). */
export class HttpWorkerError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    name: string | undefined,
  ) {
    super(message);
    if (name !== undefined) this.name = name;
  }
}

interface Pending {
  resolve(status: number): void;
  reject(err: Error): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

type Reply =
  | { id: number; status: number }
  | { id: number; error: string; code?: string; name?: string }
  | { ready: true; ok: boolean; id?: undefined };

/** The longest a broker's start waits for the worker's warm-up (it takes ~0.1-0.3 s, several times that on a loaded machine; a stuck one is not waited for longer). */
const WARM_MAX_MS = 10_000;

/** The worker and its outstanding requests. */
class HttpWorker {
  #worker: Worker | undefined;
  /** Settles when the running worker has made its warm-up request (or died, or WARM_MAX_MS passed). */
  #ready: Promise<void> = Promise.resolve();
  /** The running worker has not finished its warm-up (it stays ref'd meanwhile). */
  #warming = false;
  /** The worker terminate() is waiting for. */
  #stopping: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  /** Workers started (tests: a dead worker is replaced). */
  spawned = 0;
  /** Whether the running worker's warm-up request succeeded (tests). */
  warmedUp = false;

  post(req: HttpPost): Promise<number> {
    if (req.signal?.aborted === true) return Promise.reject(abortError());
    const worker = this.#worker ?? this.#spawn();
    const id = ++this.#seq;
    return new Promise<number>((resolve, reject) => {
      const p: Pending = { resolve, reject, signal: req.signal, onAbort: undefined };
      if (req.signal !== undefined) {
        p.onAbort = () => worker.postMessage({ abort: id });
        req.signal.addEventListener("abort", p.onAbort, { once: true });
      }
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, p);
      let body = req.body;
      // A transfer only when the caller says so: it detaches the caller's ArrayBuffer, a trap for any caller that keeps
      // a view of it. Otherwise structured cloning copies; a view much smaller than its ArrayBuffer is copied out
      // first, since cloning a view copies its whole buffer. (Whether a detach costs the broker through V8's
      // ArrayBufferDetaching protector: no, Node invalidates that protector at startup in every broker,
      // `--trace-protector-invalidation`, tracing or not.)
      const moved = req.transfer === true && typeof body !== "string" ? [body.buffer as ArrayBuffer] : undefined;
      // Bytes in a SharedArrayBuffer are shared with the worker, not copied (the OTLP batcher's reused buffers).
      if (
        moved === undefined &&
        typeof body !== "string" &&
        !(body.buffer instanceof SharedArrayBuffer) &&
        body.byteLength * 2 < body.buffer.byteLength
      )
        body = new Uint8Array(body);
      const msg = { id, url: req.url, body, headers: req.headers, timeoutMs: req.timeoutMs ?? 0 };
      worker.postMessage(msg, moved);
    });
  }

  /**
   * Starts the worker now if it is not running: a broker with a webhook or an OTLP exporter calls this when it is
   * configured, so that the worker's start (a V8 isolate and undici loaded in it: ~150-250 ms of CPU, on the broker's
   * core when it is pinned to one) and its warm-up request are paid at startup rather than in the middle of traffic
   * at the first event. Settles when the warm-up is done (ready()).
   */
  warm(): Promise<void> {
    if (this.#worker === undefined) this.#spawn();
    return this.#ready;
  }

  /**
   * Settles once the running worker (if any) has made its warm-up request. The server awaits this before its
   * listeners open, so that no client traffic meets the worker's start and first compilation (see WORKER_SOURCE).
   */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Whether the worker is running (tests). */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Requests outstanding (tests). */
  get outstanding(): number {
    return this.#pending.size;
  }

  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (p === undefined) return undefined;
    this.#pending.delete(id);
    if (p.onAbort !== undefined) p.signal?.removeEventListener("abort", p.onAbort);
    if (this.#pending.size === 0 && !this.#warming) this.#worker?.unref();
    return p;
  }

  #spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { undici: undiciPath } });
    this.spawned++;
    this.#worker = worker;
    this.warmedUp = false;
    // The worker keeps the process alive during its warm-up (a server's start awaits it), then only while a request
    // is outstanding (unref'd here after its listeners: adding a 'message' listener refs its port again).
    this.#warming = true;
    let warmed!: () => void;
    this.#ready = new Promise<void>((resolve) => {
      const timer = setTimeout(() => warmed(), WARM_MAX_MS).unref();
      warmed = () => {
        clearTimeout(timer);
        if (this.#worker === worker) this.#warming = false;
        if (this.#stopping !== worker && (this.#pending.size === 0 || this.#worker !== worker)) worker.unref();
        resolve();
      };
    });
    worker.on("message", (m: Reply) => {
      if (m.id === undefined) {
        if (this.#worker === worker) this.warmedUp = m.ok;
        warmed();
        return;
      }
      const p = this.#settle(m.id);
      if (p === undefined) return;
      if ("status" in m) p.resolve(m.status);
      else p.reject(new HttpWorkerError(m.error, m.code, m.name));
    });
    const fail = (err: Error): void => {
      warmed();
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`HTTP worker exited (code ${code})`)));
    return worker;
  }

  /** Stops the worker (tests); outstanding requests fail. */
  async terminate(): Promise<void> {
    const w = this.#worker;
    if (w === undefined) return;
    // Kept ref'd until it has exited (its warm-up ending meanwhile must not unref it), or the event loop could end
    // with this promise pending.
    this.#stopping = w;
    w.ref();
    await w.terminate();
  }
}

function abortError(): Error {
  const err = new Error("This operation was aborted");
  err.name = "AbortError";
  return err;
}

/** The process's HTTP worker (one for every webhook endpoint and exporter). */
export const httpWorker = new HttpWorker();

/** POSTs `req` from the worker thread; resolves with the HTTP status (the reply body is read and discarded). */
export function postFromWorker(req: HttpPost): Promise<number> {
  return httpWorker.post(req);
}
