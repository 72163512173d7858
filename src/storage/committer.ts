// Group commit. Mutations append ops here synchronously; one backend write (one LMDB transaction) is in flight
// at a time, and every op that arrives meanwhile goes into the next one. So with N concurrent publishers a sync
// store does about one fsync per N messages instead of one per message, and the event loop never waits on disk.
import type { Clock, TimerHandle } from "../util/clock.ts";
import { StorageError, StorageErrorCode } from "./errors.ts";
import { storageEvents } from "./events.ts";
import { Space } from "./keys.ts";
import type { KvOp } from "./kv.ts";
import type { DurabilityMode } from "./types.ts";

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A flush that fails while nobody awaits it must not crash the process as an unhandled rejection: the error
  // is kept and every later commit() rejects with it.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** commit() in batched/none mode without backpressure: one shared settled promise, not a new one per call. */
const RESOLVED: Promise<void> = Promise.resolve();

/** Placeholder of an op cancelled before its batch was cut (elide.ts); never written. */
const CANCELLED: KvOp = { space: Space.Meta, key: ["", ""], remove: true };

export interface CommitterOptions {
  mode: DurabilityMode;
  /** batched: a durable commit at most this often. */
  batchIntervalMs: number;
  /**
   * batched/none: commit() waits for the disk once this many live ops are pending (backpressure; ops cancelled out
   * within the batch do not count).
   */
  maxPendingOps: number;
  clock: Clock;
  /** Names the store in errors. */
  path: string | undefined;
  /** The store named in commit events (storageEvents.commit). */
  source?: object | undefined;
  /** The backend's atomic batch write. */
  write(ops: readonly KvOp[]): Promise<void>;
  /** Called right before a batch is cut: last chance to add ops (the engine's coalesced refcount writes). */
  beforeFlush(): void;
  /** Called once, when the committer fails (a write failed, or fail()). */
  onFailure?(error: StorageError): void;
}

export class Committer {
  readonly #o: CommitterOptions;
  #pending: KvOp[] = [];
  /** Ops of #pending replaced by CANCELLED. */
  #cancelled = 0;
  /**
   * Ops a concern keeps back until the batch is cut (defer(); it pushes them from beforeFlush): counted as pending
   * work (commit() and written() wait for them, backpressure counts them) without being in #pending yet.
   */
  #deferred = 0;
  /** Batches cut so far: an index into #pending is valid while this has not changed. */
  #generation = 0;
  /** Settles when the ops now pending are written; created on demand. */
  #next: Deferred | undefined;
  /** Same, for written() callers, who must not hurry the batch (a pending #next makes the next batch start at once). */
  #nextWritten: Deferred | undefined;
  /** Settles when the most recently started write is done. */
  #last: Promise<void> = Promise.resolve();
  #inFlight = false;
  #immediate: NodeJS.Immediate | undefined;
  #timer: TimerHandle | undefined;
  #lastStart = -Infinity;
  #failed: StorageError | undefined;
  /** Batches written and ops in them, for stats and tests. */
  batches = 0;
  ops = 0;

  constructor(options: CommitterOptions) {
    this.#o = options;
  }

  get pending(): number {
    return this.#pending.length + this.#deferred;
  }

  get failed(): StorageError | undefined {
    return this.#failed;
  }

  /** Changes each time the pending ops are cut into a batch (indexes returned by push() then expire). */
  get generation(): number {
    return this.#generation;
  }

  /** Appends an op to the next batch; returns its index there (valid until the generation changes). */
  push(op: KvOp): number {
    if (this.#failed) return 0; // nothing is written any more (and #pending stays empty, so cancel(0) is a no-op)
    const index = this.#pending.push(op) - 1;
    if (index === 0 && this.#deferred === 0) this.#schedule(false);
    return index;
  }

  /**
   * A concern keeps `delta` ops back for the next batch (negative: some cancelled out before the cut); it pushes
   * them from `beforeFlush`. Until then they count as pending (commit(), written(), backpressure).
   */
  defer(delta: number): void {
    if (this.#failed) return;
    const idle = this.#pending.length === 0 && this.#deferred === 0;
    this.#deferred += delta;
    if (idle && delta > 0) this.#schedule(false);
  }

  /** Drops the op at `index` of the pending batch (same generation as its push()). */
  cancel(index: number): void {
    if (index < this.#pending.length && this.#pending[index] !== CANCELLED) {
      this.#pending[index] = CANCELLED;
      this.#cancelled++;
    }
  }

  /** The acknowledgement point of the durability mode (see Durability in types.ts). */
  commit(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#o.mode === "sync") return this.#whenWritten(false);
    // Backpressure: the caller outpaces the disk. Write now (a batch this big needs no more waiting) and make it
    // wait, which also bounds one batch's size and so the main-thread time spent writing it. Only live ops count:
    // ops cancelled out within the batch (a queue message appended and acknowledged before the cut leaves three)
    // cost nothing, and counting them tripped this every ~1,400 such messages.
    if (this.#live() >= this.#o.maxPendingOps) return this.#whenWritten(true);
    return RESOLVED;
  }

  /** Settles once everything pushed so far is written (committed by the backend), in every mode. */
  flush(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    return this.#whenWritten(true);
  }

  /** Settles once everything pushed so far is written, at the pace the mode sets (no earlier batch than commit()). */
  written(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#hasWork()) return this.#last;
    this.#nextWritten ??= deferred();
    return this.#nextWritten.promise;
  }

  /** Cancels scheduled work (after a final flush). */
  stop(): void {
    this.#cancel();
  }

  /** Pending ops that will be written (cancelled ones cost nothing; deferred ones are still to come). */
  #live(): number {
    return this.#pending.length - this.#cancelled + this.#deferred;
  }

  #hasWork(): boolean {
    return this.#pending.length > 0 || this.#deferred > 0;
  }

  #whenWritten(now: boolean): Promise<void> {
    if (!this.#hasWork()) return this.#last;
    this.#next ??= deferred();
    this.#schedule(now);
    return this.#next.promise;
  }

  #schedule(now: boolean): void {
    if (this.#inFlight || !this.#hasWork()) return; // the running write's completion picks them up
    const { mode, batchIntervalMs, clock } = this.#o;
    if (mode === "batched" && !now) {
      if (this.#timer || this.#immediate) return;
      const wait = Math.max(0, this.#lastStart + batchIntervalMs - clock.now());
      this.#timer = clock.setTimeout(() => {
        this.#timer = undefined;
        this.#run();
      }, wait);
      return;
    }
    if (this.#immediate) return;
    this.#cancel();
    // End of this event-loop turn: everything the current I/O callbacks push shares the batch.
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      this.#run();
    });
  }

  #cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }

  #run(): void {
    if (this.#inFlight || this.#failed) return;
    this.#cancel();
    if (!this.#hasWork()) return;
    this.#o.beforeFlush(); // pushes the deferred ops
    this.#deferred = 0;
    let ops = this.#pending;
    this.#pending = [];
    this.#generation++;
    if (this.#cancelled > 0) {
      ops = ops.filter((op) => op !== CANCELLED);
      this.#cancelled = 0;
    }
    const done = this.#next ?? deferred();
    this.#next = undefined;
    const alsoDone = this.#nextWritten;
    this.#nextWritten = undefined;
    this.#last = done.promise;
    if (alsoDone !== undefined)
      done.promise.then(
        () => alsoDone.resolve(),
        (e: unknown) => alsoDone.reject(e),
      );
    if (ops.length === 0) {
      done.resolve(); // everything cancelled out: nothing to write, nothing to wait for
      return;
    }
    this.#inFlight = true;
    this.#lastStart = this.#o.clock.now();
    // Commit latency only while someone listens (one property read per batch otherwise).
    const t0 = storageEvents.commit.hasSubscribers ? performance.now() : -1;
    let written: Promise<void>;
    try {
      written = this.#o.write(ops);
    } catch (e) {
      written = Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    written.then(
      () => {
        this.#inFlight = false;
        this.batches++;
        this.ops += ops.length;
        if (t0 >= 0 && storageEvents.commit.hasSubscribers) {
          storageEvents.commit.publish({
            source: this.#o.source,
            ops: ops.length,
            seconds: (performance.now() - t0) / 1000,
          });
        }
        done.resolve();
        // Group commit: whatever arrived during this write goes out now, as one batch.
        if (this.#hasWork()) {
          if (this.#o.mode === "batched" && this.#next === undefined) this.#schedule(false);
          else this.#run();
        }
      },
      (e: unknown) => {
        this.#inFlight = false;
        const error = this.fail(e);
        done.reject(error);
      },
    );
  }

  /**
   * Fails for good: pending ops are dropped, waiting and later commit()/flush() calls reject. A StorageError
   * reason is kept as it is; anything else is a failed write. The first failure wins.
   */
  fail(reason: unknown): StorageError {
    if (this.#failed) return this.#failed;
    const failed =
      reason instanceof StorageError
        ? reason
        : new StorageError(
            StorageErrorCode.WriteFailed,
            `storage: writing ${this.#o.path ?? "the store"} failed (${reason instanceof Error ? reason.message : String(reason)}); the broker's state is no longer persisted: stop it and check the disk`,
            { path: this.#o.path, cause: reason },
          );
    this.#failed = failed;
    this.#cancel();
    this.#pending = [];
    this.#cancelled = 0;
    this.#deferred = 0;
    this.#generation++;
    this.#next?.reject(failed);
    this.#next = undefined;
    this.#nextWritten?.reject(failed);
    this.#nextWritten = undefined;
    this.#o.onFailure?.(failed);
    return failed;
  }
}
