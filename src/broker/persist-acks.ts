// Holding acknowledgements until the commit (docs/storage.md "Broker integration"), and the one failure path.
//
// Every storage mutation made by the mirror (persist-*.ts) marks the batch dirty (wrote()); an acknowledgement
// that promises durability waits for the commit of that batch, in order per connection. A failure of the store
// — a commit that fails (disk full, I/O error) or a storage call that throws (the mirror lost track) — stops
// acknowledging for good: docs/storage.md promises that nothing acknowledged is lost, and after a failure nothing
// more is committed. Every waiting and every later acknowledgement is refused (the client is disconnected, 5.0:
// 0x80, and resends after reconnecting to a broker with a working disk); whoever opened the store is told through
// storage.onFailure() and stops the broker (src/server).
import { ReasonCode } from "../codec/index.ts";
import { StorageError } from "../storage/index.ts";
import type { Storage } from "../storage/index.ts";
import type { Logger } from "../util/index.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";

/**
 * Acknowledgements waiting for one commit: connection, what to send, connection, what to send … — a function, or
 * the packet id of a plain PUBACK (a queue PUBLISH's acknowledgement: no closure per message).
 */
interface Waiting {
  readonly promise: Promise<void>;
  readonly items: (ClientContext | (() => void) | number)[];
}

export class AckGate {
  /** Acknowledgements waiting for a commit, per connection (order is kept per connection). */
  readonly #pending = new WeakMap<ClientContext, number>();
  /** Acknowledgements waiting across all connections: while 0, afterCommit() needs no per-connection lookup. */
  #waiting = 0;
  /** Something was written since the last commit() call: an acknowledgement must wait for the next one. */
  #uncommitted = false;
  #reported = false;
  /** Acknowledgements waiting for the latest commit promise handed out. */
  #batch: Waiting | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly logger: Logger,
  ) {}

  /** A mutation went into the current batch. */
  wrote(): void {
    this.#uncommitted = true;
  }

  /** True when afterCommit(c, fn) would run fn at once (the same tests, in the same order). */
  ready(c: ClientContext): boolean {
    if (this.storage.failure !== undefined || this.#uncommitted) return false;
    return this.#waiting === 0 || (this.#pending.get(c) ?? 0) === 0;
  }

  /**
   * Runs `fn` (which sends an acknowledgement) once everything written so far is committed — at once when nothing
   * was written and no earlier acknowledgement of this connection is still waiting, so paths without storage
   * effects stay synchronous. Commits settle in order, so acknowledgements keep their order per connection.
   */
  afterCommit(c: ClientContext, fn: (() => void) | number): void {
    if (this.storage.failure !== undefined) {
      refuse(c);
      return;
    }
    // Most calls (every in-process publish, every QoS 1 PUBLISH without a storage effect) find nothing written and
    // nothing waiting: answered without the WeakMap lookup.
    if (!this.#uncommitted && this.#waiting === 0) {
      run(c, fn);
      return;
    }
    const pending = this.#pending.get(c) ?? 0;
    if (!this.#uncommitted && pending === 0) {
      run(c, fn);
      return;
    }
    this.#uncommitted = false;
    this.#pending.set(c, pending + 1);
    this.#waiting++;
    // One reaction per commit, not per acknowledgement: every acknowledgement handed the same commit promise
    // joins one list (a sync batch holds hundreds; each used to cost a promise and two closures).
    const promise = this.storage.commit();
    let b = this.#batch;
    if (b === undefined || b.promise !== promise) {
      const batch: Waiting = { promise, items: [] };
      this.#batch = b = batch;
      promise.then(
        () => this.#release(batch, undefined),
        (err: unknown) => this.#release(batch, err ?? new Error("commit failed")),
      );
    }
    b.items.push(c, fn);
  }

  /** The commit of `batch` settled: its acknowledgements go out (in order), or are refused. */
  #release(batch: Waiting, err: unknown): void {
    if (this.#batch === batch) this.#batch = undefined; // later calls start a new list (and reaction)
    const items = batch.items;
    if (err !== undefined) this.failed(err, "commit");
    let thrown: Error | undefined;
    for (let i = 0; i < items.length; i += 2) {
      const c = items[i] as ClientContext;
      this.#waiting--;
      this.#pending.set(c, (this.#pending.get(c) ?? 1) - 1);
      if (err !== undefined) refuse(c);
      // Resolved before a later failure was noticed: this batch is on disk, the acknowledgement is true.
      else if (c.state !== ConnState.Closed) {
        try {
          run(c, items[i + 1] as (() => void) | number);
        } catch (e) {
          // The others still go out; then it surfaces as before (an unhandled rejection).
          thrown ??= e instanceof Error ? e : new Error(String(e));
        }
      }
    }
    if (thrown !== undefined) throw thrown;
  }

  /**
   * A storage call failed. The store is failed on purpose if it is not already (so nothing after this point is
   * committed and every waiting acknowledgement is refused), and the broker's side of it is logged once.
   */
  failed(err: unknown, what: string): void {
    const error = this.storage.failure ?? this.storage.fail(err);
    if (this.#reported) return;
    this.#reported = true;
    this.logger.error(
      { err, code: err instanceof StorageError ? err.code : undefined, what },
      `storage: persisting broker state failed (${what}): ${error.message}. No acknowledgement is sent from now on; the broker must stop`,
    );
  }
}

/** Sends what an acknowledgement item says: a plain PUBACK of that packet id, or whatever the function sends. */
function run(c: ClientContext, what: (() => void) | number): void {
  if (typeof what === "number") c.sendPuback(what); // [MQTT-4.3.2-2]
  else what();
}

/** Nothing is acknowledged that is not on disk: the client resends after reconnecting. */
function refuse(c: ClientContext): void {
  if (c.state !== ConnState.Closed) c.disconnect(ReasonCode.UnspecifiedError);
}
