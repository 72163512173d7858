// argon2id verification on dedicated worker threads at the lowest CPU priority, so that a burst of first-time
// logins cannot slow the event loop down (issue #14 target: other clients' QoS 1 p99 + <= 1 ms).
//
// Why not @node-rs/argon2's async verify: it computes on the libuv thread pool at the broker's own priority. With
// the broker pinned to one core, two 19 MiB hashes (~10 ms of CPU each on the dev VM) competed with the event loop
// as equals and the scheduler interleaved them in slices of milliseconds: QoS 1 p99 of an unrelated client went
// from 3.08 to 10.77 ms at 77 verifications/s.
//
// Priority ("idle", the default): each worker sets nice 19 on itself (per thread on Linux: the event loop keeps
// nice 0), then moves itself to SCHED_IDLE with chrt(1) on its own thread id. With nice alone, whether a waking
// event loop preempts the hash at once is left to heuristics: Linux 6.6+ (EEVDF) may let the running task keep a
// protected slice (1.4 ms on the 2-core dev VM), and with 85 first-time logins/s a hash runs on the broker's core
// ~90 % of the time. (Measured, nice 19 gave the CPU back within 150 µs too; a nice-10 process kept a nice-0 one
// waiting up to 0.94 ms: bench:auth --perf-sched.) A SCHED_IDLE task is preempted by any waking normal task at
// once, by rule (kernel/sched/fair.c, check_preempt_wakeup_fair: "Preempt an idle entity in favor of a non-idle
// entity"). Unprivileged threads may
// move themselves to SCHED_IDLE (not back). Where chrt is missing or refused, the workers stay at nice 19 and say
// so (workerScheduling()); "nice" asks for nice 19 only.
//
// Escalation: low priority is relative to every other runnable thread of the broker's process group, not only to
// the event loop. On a host busy with other work a low-priority hash can starve for seconds (the first version made
// CONNECTs time out in CI at load 26). So a verification still unanswered after `escalateAfterMs` (500 ms; a hash
// takes ~10 ms of CPU) is raced on the rescue lane: the same verification on the libuv pool at normal priority,
// one at a time; the first verdict wins. The worker is detached meanwhile (no new work) and serves again once its
// hash is done; while no worker is free, verifications go to the rescue lane directly.
//
// Bounds: `threads` verifications at once and `maxWaiting` queued; beyond that verify() rejects with
// SemaphoreFullError, which the chain answers with 5.0 0x89 Server busy / 3.x 0x03 Server unavailable. Memory:
// at most `threads` worker isolates (~8 MB each, started on first use, never respawned except after a crash) and at
// most `threads` + 1 hashes in flight (workers plus the one-job rescue lane), 19 MiB each: 73 MiB for the default
// 2 threads, the figure docs/security.md's RSS bound is built from. A worker that dies fails its one verification
// (the chain then refuses: fail-closed) and is replaced on the next one. Idle workers do not keep the process alive.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { lazyRequire, Semaphore, systemClock } from "../../util/index.ts";
import type { Clock } from "../../util/index.ts";

/** The lowest priority Linux allows an unprivileged thread to set on itself. */
export const VERIFIER_NICE = 19;

// CommonJS, evaluated: works the same from the TypeScript sources (tsx) and the compiled package. The worker lowers
// its own nice value first (works everywhere Node runs), then, for "idle", moves itself to SCHED_IDLE with chrt(1)
// (util-linux; an unprivileged thread may do this to itself, and only to lower its priority) on its own thread id
// (/proc/thread-self), and reports what it got: policy 5 = SCHED_IDLE in /proc/thread-self/stat's 41st field.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const os = require("node:os");
const fs = require("node:fs");
const { execFileSync } = require("node:child_process");
const { verifySync } = require(workerData.argon2);
let nice = null;
let idle = false;
try { os.setPriority(workerData.nice); nice = os.getPriority(); } catch {}
if (workerData.idle) {
  try {
    const tid = fs.readlinkSync("/proc/thread-self").split("/").pop();
    execFileSync("chrt", ["--idle", "-p", "0", tid], { stdio: "ignore", timeout: 5000 });
  } catch {}
}
try {
  const stat = fs.readFileSync("/proc/thread-self/stat", "utf8");
  idle = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[38] === "5";
} catch {}
parentPort.postMessage({ nice, idle });
parentPort.on("message", (m) => {
  let ok = false;
  try { ok = verifySync(m.hash, m.password); } catch { ok = false; }
  parentPort.postMessage({ ok });
});
`;

const argon2Path = createRequire(import.meta.url).resolve("@node-rs/argon2");
/** The binding in this thread, for the rescue lane only (its workers load their own): loaded by the constructor. */
const argon2 = lazyRequire<typeof import("@node-rs/argon2")>("@node-rs/argon2");

/** How a worker lowers its CPU priority: SCHED_IDLE (falls back to nice 19 where chrt is missing) or nice 19 only. */
export const HASH_PRIORITIES = ["idle", "nice"] as const;
export type HashPriority = (typeof HASH_PRIORITIES)[number];

/** What a worker got: its nice value (null where refused) and whether it runs under SCHED_IDLE. */
export interface WorkerScheduling {
  nice: number | null;
  idle: boolean;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<WorkerScheduling>;
  /** The verification in flight on this worker, if any. */
  job: { resolve(ok: boolean): void; reject(err: Error): void } | undefined;
  dead: boolean;
  /** Escalated: its caller is raced on the rescue lane; the worker finishes its hash, then serves again. */
  detached: boolean;
}

export interface Argon2VerifierOptions {
  /** Verifications answered at once, i.e. worker threads (>= 1). */
  threads: number;
  /** Verifications waiting for a free worker; more are refused with SemaphoreFullError. */
  maxWaiting: number;
  /** Time after which an unanswered low-priority verification is answered at normal priority (default 500 ms). */
  escalateAfterMs?: number;
  /** The workers' scheduling (default "idle"). */
  priority?: HashPriority;
  clock?: Pick<Clock, "setTimeout">;
}

export const DEFAULT_ESCALATE_AFTER_MS = 500;

export class Argon2Verifier {
  readonly #semaphore: Semaphore;
  /** The rescue lane (#onPool): its queue holds at most one job per verification in flight (<= threads). */
  readonly #rescue = new Semaphore(1, Number.POSITIVE_INFINITY);
  readonly #threads: number;
  readonly #idle: Slot[] = [];
  readonly #all = new Set<Slot>();
  #detached = 0;
  #closed = false;
  readonly #escalateAfterMs: number;
  readonly #priority: HashPriority;
  readonly #clock: Pick<Clock, "setTimeout">;
  /** Verifications answered on the libuv pool because the low-priority one took too long or workers were stuck. */
  escalated = 0;
  /** Worker threads started so far (at most `threads`, more only after a worker died): tests, diagnostics. */
  spawned = 0;

  constructor(opts: Argon2VerifierOptions) {
    this.#threads = Math.max(1, opts.threads);
    this.#semaphore = new Semaphore(this.#threads, opts.maxWaiting);
    this.#escalateAfterMs = opts.escalateAfterMs ?? DEFAULT_ESCALATE_AFTER_MS;
    this.#priority = opts.priority ?? "idle";
    this.#clock = opts.clock ?? systemClock;
    argon2(); // now, with the config, rather than in the middle of the first rescued verification (~30 ms)
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

  /** A worker's scheduling (starting one if none runs yet): for tests and the startup log. */
  async workerScheduling(): Promise<WorkerScheduling> {
    const slot = this.#take();
    if (slot === undefined) return [...this.#all][0]!.ready;
    try {
      return await slot.ready;
    } finally {
      this.#release(slot);
    }
  }

  /** The nice value a worker runs at (null where the platform refused it). */
  async workerNice(): Promise<number | null> {
    return (await this.workerScheduling()).nice;
  }

  /**
   * The rescue lane: one verification at a time on the libuv pool at normal priority, for callers whose worker is
   * starved (or when every worker is still finishing one). One lane, not one per worker: each hash holds 19 MiB, and
   * the lane is what lets hashing memory stay bounded at (threads + 1) hashes. A queued job whose caller the worker
   * answered meanwhile is skipped without hashing.
   */
  #onPool(hash: string, password: Buffer, wanted: () => boolean = () => true): Promise<boolean> {
    return this.#rescue.run(async () => {
      if (!wanted()) return false; // answered by its worker while queued here: the verdict is not used
      this.escalated++;
      return argon2()
        .verify(hash, password)
        .catch(() => false); // a malformed hash verifies as wrong
    });
  }

  #run(hash: string, password: Buffer): Promise<boolean> {
    // No idle worker and all `threads` started: some are detached (still finishing escalated hashes), so the
    // machine is too busy for low-priority hashing right now.
    const slot = this.#take();
    if (slot === undefined) return this.#onPool(hash, password);
    return new Promise<boolean>((resolve, reject) => {
      let answered = false;
      const answer = (ok: boolean): void => {
        if (answered) return;
        answered = true;
        resolve(ok);
      };
      const timer = this.#clock.setTimeout(() => {
        if (answered || slot.dead) return;
        // Raced from here: the rescue lane verifies the same pair at normal priority and the first verdict wins
        // (both are the same verdict). The worker is detached: not given new work until its hash is done.
        slot.detached = true;
        this.#detached++;
        this.#onPool(hash, password, () => !answered).then(answer, () => answer(false));
      }, this.#escalateAfterMs);
      slot.job = {
        resolve: (ok) => {
          timer.cancel();
          slot.job = undefined;
          if (slot.detached) this.#undetach(slot);
          else this.#release(slot);
          answer(ok);
        },
        reject: (err) => {
          timer.cancel();
          slot.job = undefined;
          if (answered || slot.detached) return; // escalated: the rescue lane answers
          answered = true;
          reject(err);
        },
      };
      slot.worker.ref(); // a verification in flight keeps the process alive; an idle worker does not
      slot.ready.then(
        () => {
          if (!slot.dead) slot.worker.postMessage({ hash, password });
        },
        () => undefined, // the exit handler rejects the job
      );
    });
  }

  /** An idle worker, or a new one while fewer than `threads` run; undefined when all are busy (detached). */
  #take(): Slot | undefined {
    if (this.#closed) throw new Error("argon2 verifier closed");
    return this.#idle.pop() ?? (this.#all.size < this.#threads ? this.#spawn() : undefined);
  }

  #release(slot: Slot): void {
    if (slot.dead || this.#closed) return;
    slot.worker.unref();
    this.#idle.push(slot);
  }

  /**
   * A detached worker finished its hash: it serves again. It is not replaced by a new isolate (the first version
   * did): under load that churned isolates, and a fresh worker beside a detached one meant two workers' memory
   * (~8 MB each, plus a 19 MiB hash each) where `threads` budgeted one.
   */
  #undetach(slot: Slot): void {
    slot.detached = false;
    this.#detached--;
    this.#release(slot);
  }

  #spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { argon2: argon2Path, nice: VERIFIER_NICE, idle: this.#priority === "idle" },
    });
    this.spawned++;
    let readyResolve!: (s: WorkerScheduling) => void;
    let readyReject!: (err: Error) => void;
    const ready = new Promise<WorkerScheduling>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    ready.catch(() => undefined); // observed by #run / workerScheduling; never an unhandled rejection
    const slot: Slot = { worker, ready, job: undefined, dead: false, detached: false };
    let started = false;
    worker.on("message", (m: { nice?: number | null; idle?: boolean; ok?: boolean }) => {
      if (!started) {
        started = true;
        readyResolve({ nice: m.nice ?? null, idle: m.idle === true });
        return;
      }
      slot.job?.resolve(m.ok === true);
    });
    const fail = (err: Error) => {
      const job = slot.job;
      slot.job = undefined;
      readyReject(err);
      job?.reject(err);
      const i = this.#idle.indexOf(slot);
      if (i >= 0) this.#idle.splice(i, 1);
      if (!slot.dead) {
        slot.dead = true;
        this.#all.delete(slot); // replaced by a new worker on a later verification
      }
      if (slot.detached) {
        slot.detached = false;
        this.#detached--;
      }
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
