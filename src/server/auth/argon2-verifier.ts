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
// loop. On a host busy with other work a nice-19 hash can starve for seconds (the first version made CONNECTs time
// out in CI at load 26). So a verification still unanswered after `escalateAfterMs` (500 ms; a hash takes ~30-50 ms
// of CPU) is answered by the same verification on the libuv pool at normal priority instead, and its worker is
// detached: it finishes in the background, is then stopped, and a fresh worker serves the next verification. While
// `threads` workers are detached (the machine is that busy), verifications go to the libuv pool directly. At most
// `threads` verifications are answered at once and at most `threads` detached workers run: hashing threads stay
// bounded at 2 x threads plus the pool.
//
// Bounds: `threads` verifications at once and `maxWaiting` queued; beyond that verify() rejects with
// SemaphoreFullError, which the chain answers with 5.0 0x89 Server busy / 3.x 0x03 Server unavailable. A worker that
// dies fails its one verification (the chain then refuses: fail-closed) and is replaced on the next one. Workers
// start on first use and do not keep the process alive while idle.
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
  /** Escalated: its caller was answered by the pool; the worker finishes its hash, then is stopped. */
  detached: boolean;
}

export interface Argon2VerifierOptions {
  /** Verifications answered at once, i.e. worker threads in use (>= 1). */
  threads: number;
  /** Verifications waiting for a free worker; more are refused with SemaphoreFullError. */
  maxWaiting: number;
  /** Time after which an unanswered low-priority verification is answered at normal priority (default 500 ms). */
  escalateAfterMs?: number;
  clock?: Pick<Clock, "setTimeout">;
}

export const DEFAULT_ESCALATE_AFTER_MS = 500;

export class Argon2Verifier {
  readonly #semaphore: Semaphore;
  readonly #threads: number;
  readonly #idle: Slot[] = [];
  readonly #all = new Set<Slot>();
  #detached = 0;
  #closed = false;
  readonly #escalateAfterMs: number;
  readonly #clock: Pick<Clock, "setTimeout">;
  /** Verifications answered on the libuv pool because the low-priority one took too long or workers were stuck. */
  escalated = 0;

  constructor(opts: Argon2VerifierOptions) {
    this.#threads = Math.max(1, opts.threads);
    this.#semaphore = new Semaphore(this.#threads, opts.maxWaiting);
    this.#escalateAfterMs = opts.escalateAfterMs ?? DEFAULT_ESCALATE_AFTER_MS;
    this.#clock = opts.clock ?? systemClock;
  }

  get active(): number {
    return this.#semaphore.active;
  }

  get waiting(): number {
    return this.#semaphore.waiting;
  }

  /** Workers still finishing a hash whose caller was answered at normal priority (tests, diagnostics). */
  get detached(): number {
    return this.#detached;
  }

  /** True when `password` matches the PHC string `hash`; a malformed hash verifies as wrong, never throws. */
  verify(hash: string, password: Buffer): Promise<boolean> {
    return this.#semaphore.run(() => this.#run(hash, password));
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

  #onPool(hash: string, password: Buffer): Promise<boolean> {
    this.escalated++;
    return verifyOnPool(hash, password).catch(() => false); // a malformed hash verifies as wrong
  }

  #run(hash: string, password: Buffer): Promise<boolean> {
    if (this.#detached >= this.#threads) return this.#onPool(hash, password); // every worker is stuck
    const slot = this.#take();
    return new Promise<boolean>((resolve, reject) => {
      let answered = false;
      const answer = (ok: boolean): void => {
        if (answered) return;
        answered = true;
        resolve(ok);
      };
      const timer = this.#clock.setTimeout(() => {
        if (answered || slot.dead) return;
        // From here the worker's answer (or death) no longer concerns this caller: the pool answers it.
        slot.job = undefined;
        slot.detached = true;
        this.#detached++;
        this.#onPool(hash, password).then(answer, () => answer(false));
      }, this.#escalateAfterMs);
      slot.job = {
        resolve: (ok) => {
          timer.cancel();
          slot.job = undefined;
          this.#release(slot);
          answer(ok);
        },
        reject: (err) => {
          timer.cancel();
          slot.job = undefined;
          if (answered) return;
          answered = true;
          reject(err);
        },
      };
      slot.worker.ref(); // a verification in flight keeps the process alive; an idle worker does not
      slot.ready.then(
        () => {
          if (slot.detached)
            this.#retire(slot); // answered while the worker was starting: never used
          else slot.worker.postMessage({ hash, password });
        },
        () => undefined, // the exit handler rejects the job
      );
    });
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

  /** A detached worker finished: stop it (a fresh one serves the next verification). */
  #retire(slot: Slot): void {
    if (!slot.dead) {
      slot.dead = true;
      this.#all.delete(slot);
      void slot.worker.terminate();
    }
    if (slot.detached) {
      slot.detached = false;
      this.#detached--;
    }
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
    const slot: Slot = { worker, ready, job: undefined, dead: false, detached: false };
    let started = false;
    worker.on("message", (m: { nice?: number | null; ok?: boolean }) => {
      if (!started) {
        started = true;
        readyResolve(m.nice ?? null);
        return;
      }
      if (slot.detached)
        this.#retire(slot); // its hash is done; its caller was answered on the pool
      else slot.job?.resolve(m.ok === true);
    });
    const fail = (err: Error) => {
      const job = slot.job;
      slot.job = undefined;
      readyReject(err);
      job?.reject(err);
      const i = this.#idle.indexOf(slot);
      if (i >= 0) this.#idle.splice(i, 1);
      this.#retire(slot);
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
