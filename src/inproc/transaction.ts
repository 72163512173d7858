// Transactions: messages collected by publish() become visible at commit(), all of them, in order, in one event-loop
// turn (no subscriber, in-process or MQTT, can observe a part) with one storage commit; or none of them (rollback,
// or the timeout passing first). See docs/embedding.md "Transactions" for what atomicity does not cover.
import type { Message } from "../broker/message.ts";
import type { Clock, TimerHandle } from "../util/index.ts";
import { InprocError, InprocErrorCode, invalid, rejection } from "./errors.ts";
import type { PublishOptions, PublishResult } from "./types.ts";

export interface TransactionOptions {
  /** Milliseconds before an open transaction is rolled back (default: the broker's, 30 000). */
  timeout?: number;
}

/** What a transaction needs from the in-process broker (local-broker.ts). */
export interface TransactionHost {
  message(topic: string, payload: Buffer | Uint8Array | string, opts: PublishOptions): Message;
  admit(bytes: number): void;
  routeAll(msgs: readonly Message[], kind: "transaction"): Promise<PublishResult>;
  transactionEnded(outcome: "committed" | "rolledBack" | "timedOut"): void;
}

export const TransactionState = {
  Open: "open",
  Committed: "committed",
  RolledBack: "rolled-back",
  TimedOut: "timed-out",
} as const;
export type TransactionStateValue = (typeof TransactionState)[keyof typeof TransactionState];

export class Transaction {
  #state: TransactionStateValue = TransactionState.Open;
  #msgs: Message[] = [];
  #timer: TimerHandle | undefined;

  constructor(
    private readonly host: TransactionHost,
    clock: Clock,
    opts: { timeout: number },
  ) {
    if (!Number.isSafeInteger(opts.timeout) || opts.timeout <= 0) {
      throw invalid(`transaction timeout must be a positive integer (ms), got ${opts.timeout}`);
    }
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#state !== TransactionState.Open) return;
      this.#state = TransactionState.TimedOut;
      this.#msgs = [];
      host.transactionEnded("timedOut");
    }, opts.timeout);
  }

  get state(): TransactionStateValue {
    return this.#state;
  }

  /** Messages collected so far. */
  get size(): number {
    return this.#msgs.length;
  }

  /** Adds a message (validated now: an invalid one throws and is not added). Nothing is routed before commit(). */
  publish(topic: string, payload: Buffer | Uint8Array | string, opts: PublishOptions = {}): void {
    this.#check("publish");
    this.#msgs.push(this.host.message(topic, payload, opts));
  }

  /**
   * Routes every message, in order, in this turn, and resolves once storage has committed them. Rejects without
   * routing anything when the transaction is no longer open or the memory budget cannot take all of it.
   */
  commit(): Promise<PublishResult> {
    try {
      this.#check("commit");
      this.host.admit(this.#msgs.reduce((n, m) => n + m.payload.length, 0));
    } catch (err) {
      return rejection(err);
    }
    const msgs = this.#msgs;
    this.#finish(TransactionState.Committed);
    this.host.transactionEnded("committed");
    return this.host.routeAll(msgs, "transaction");
  }

  /** Discards every message. */
  rollback(): void {
    this.#check("rollback");
    this.#finish(TransactionState.RolledBack);
    this.host.transactionEnded("rolledBack");
  }

  #finish(state: TransactionStateValue): void {
    this.#state = state;
    this.#msgs = [];
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #check(what: string): void {
    if (this.#state === TransactionState.Open) return;
    if (this.#state === TransactionState.TimedOut) {
      throw new InprocError(
        InprocErrorCode.TransactionTimeout,
        `${what}(): the transaction timed out and was rolled back`,
      );
    }
    throw new InprocError(InprocErrorCode.TransactionClosed, `${what}(): the transaction is already ${this.#state}`);
  }
}
