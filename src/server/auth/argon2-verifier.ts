// argon2id verification on dedicated worker threads that run at the lowest CPU priority (nice 19), so that a burst
// of first-time logins cannot slow the event loop down (issue #14 target: other clients' QoS 1 p99 + <= 1 ms).
//
// Why not @node-rs/argon2's async verify: it computes on the libuv thread pool at the broker's own priority. With
// the broker pinned to one core, two 19 MiB hashes (~30-50 ms of CPU each) competed with the event loop as equals
// and the scheduler interleaved them in slices of milliseconds: QoS 1 p99 of an unrelated client went from 3.08 to
// 10.77 ms at 77 verifications/s. Here each worker calls `os.setPriority(19)` on itself (on Linux the nice value is
// per thread, so the event loop keeps nice 0) and then verifies synchronously: CFS gives a nice-19 thread a weight
// of 15 against 1,024, and a waking event loop preempts it at once. Hashing then only uses the CPU the event loop
// leaves idle; when the broker is saturated, verifications wait (bounded below) instead of the traffic.
//
// Escalation: nice 19 is relative to every thread of the machine (of the same autogroup), not only to the event
// loop. On a host busy with other work a nice-19 hash could starve for seconds (the first version made CONNECTs
// time out in CI at load 26). So a verification still running after `escalateAfterMs` (500 ms; a hash takes
// ~30-50 ms of CPU) is raced with the same verification on the libuv pool at normal priority, and the first
// answer wins. The worker keeps its slot until it finishes, so this adds at most one pool hash per worker.
//
// Bounds: `threads` workers (one verification each at a time) and `maxWaiting` queued verifications; beyond that
// verify() rejects with SemaphoreFullError, which the chain answers with 5.0 0x89 Server busy / 3.x 0x03 Server
// unavailable. A worker that dies fails its one verification (the chain then refuses: fail-closed) and is replaced
// on the next one. Workers start on first use and do not keep the process alive while idle.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { verify as verifyOnPool } from "@node-rs/argon2";
import { Semaphore, systemClock } from "../../util/index.ts";
import type { Clock } from "../../util/index.ts";

/** The lowest priority Linux allows an unprivileged thread to set on itself. */
export const VERIFIER_NICE = 19;

// CommonJS, evaluated: works the same from the TypeScript sources (tsx) and the compiled package.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const os = require("node:os");
const { verifySync } = require(workerData.argon2);
let nice = null;
try { os.setPriority(workerData.nice); nice = os.getPriority(); } catch {}
parentPort.postMessage({ nice });
parentPort.on("message", (m) => {
  let ok = false;
  try { ok = verifySync(m.hash, m.password); } catch { ok = false; }
  parentPort.postMessage({ ok });
});
`;

const argon2Path = createRequire(import.meta.url).resolve("@node-rs/argon2");

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<number | null>;
  /** The verification in flight on this worker, if any. */
  job: { resolve(ok: boolean): void; reject(err: Error): void } | undefined;
  dead: boolean;
}

export interface Argon2VerifierOptions {
  /** Worker threads, i.e. verifications running at once (>= 1). */
  threads: number;
  /** Verifications waiting for a free worker; more are refused with SemaphoreFullError. */
  maxWaiting: number;
  /** Running time at low priority after which the verification is raced at normal priority (default 500 ms). */
  escalateAfterMs?: number;
  clock?: Pick<Clock, "setTimeout">;
}

export const DEFAULT_ESCALATE_AFTER_MS = 500;

export class Argon2Verifier {
  readonly #semaphore: Semaphore;
  readonly #idle: Slot[] = [];
  readonly #all = new Set<Slot>();
  #closed = false;
  readonly #escalateAfterMs: number;
  readonly #clock: Pick<Clock, "setTimeout">;
  /** Verifications raced at normal priority because they ran longer than escalateAfterMs (tests, diagnostics). */
  escalated = 0;

  constructor(opts: Argon2VerifierOptions) {
    this.#semaphore = new Semaphore(Math.max(1, opts.threads), opts.maxWaiting);
    this.#escalateAfterMs = opts.escalateAfterMs ?? DEFAULT_ESCALATE_AFTER_MS;
    this.#clock = opts.clock ?? systemClock;
  }

  get active(): number {
    return this.#semaphore.active;
  }

  get waiting(): number {
    return this.#semaphore.waiting;
  }

  /** True when `password` matches the PHC string `hash`; a malformed hash verifies as wrong, never throws. */
  verify(hash: string, password: Buffer): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      // The slot is held until the worker is done; the caller may be answered earlier by the escalation race.
      this.#semaphore.run(() => this.#run(hash, password, resolve)).then(resolve, reject);
    });
  }

  /** The nice value a worker runs at (null where the platform refused it): for tests and the startup log. */
  async workerNice(): Promise<number | null> {
    const slot = this.#take();
    try {
      return await slot.ready;
    } finally {
      this.#release(slot);
    }
  }

  async #run(hash: string, password: Buffer, early: (ok: boolean) => void): Promise<boolean> {
    const slot = this.#take();
    const timer = this.#clock.setTimeout(() => {
      this.escalated++;
      verifyOnPool(hash, password).then(early, () => early(false)); // a malformed hash verifies as wrong
    }, this.#escalateAfterMs);
    try {
      await slot.ready;
      return await new Promise<boolean>((resolve, reject) => {
        slot.job = { resolve, reject };
        slot.worker.ref(); // a verification in flight keeps the process alive; an idle worker does not
        slot.worker.postMessage({ hash, password });
      });
    } finally {
      timer.cancel();
      slot.job = undefined;
      this.#release(slot);
    }
  }

  #take(): Slot {
    if (this.#closed) throw new Error("argon2 verifier closed");
    return this.#idle.pop() ?? this.#spawn();
  }

  #release(slot: Slot): void {
    if (slot.dead || this.#closed) return;
    slot.worker.unref();
    this.#idle.push(slot);
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2: argon2Path, nice: VERIFIER_NICE } });
    let readyResolve!: (nice: number | null) => void;
    let readyReject!: (err: Error) => void;
    const ready = new Promise<number | null>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    ready.catch(() => undefined); // observed by #run / workerNice; never an unhandled rejection
    const slot: Slot = { worker, ready, job: undefined, dead: false };
    let started = false;
    worker.on("message", (m: { nice?: number | null; ok?: boolean }) => {
      if (!started) {
        started = true;
        readyResolve(m.nice ?? null);
        return;
      }
      slot.job?.resolve(m.ok === true);
    });
    const fail = (err: Error) => {
      if (slot.dead) return;
      slot.dead = true;
      this.#all.delete(slot);
      const i = this.#idle.indexOf(slot);
      if (i >= 0) this.#idle.splice(i, 1);
      readyReject(err);
      slot.job?.reject(err);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`argon2 worker exited (code ${code})`)));
    this.#all.add(slot);
    return slot;
  }

  /** Stops every worker; verifications in flight are refused. */
  close(): void {
    this.#closed = true;
    for (const slot of this.#all) void slot.worker.terminate();
    this.#all.clear();
    this.#idle.length = 0;
  }
}
