// Backpressure from subscribers to publishers, with a bounded stall (docs/broker.md "Overload and slow consumers").
//
// Every online subscriber connection has an OutboundPressure: its outbound side is the bytes encoded but not yet
// flushed, the bytes its transport holds unsent and the deliveries waiting in its session queue. When a message a
// publisher sent lands on a subscriber whose outbound side is over a high-water mark (bytes or messages), that
// publisher's input is held: its connection stops handling packets and its transport stops reading, so TCP pushes
// back on the publisher instead of the broker buffering (or dropping) without end. Once the subscriber drains below
// the low-water marks, every publisher it held goes again.
//
// The stall is bounded, after the NATS server's fast-producer stall (server/client.go stalledWait: a producer waits
// at most a few ms per message and 10 ms per read loop for a slow consumer, which is disconnected once its pending
// bytes pass max_pending): here a subscriber may hold publishers for at most `stallLimitMs` in one episode (the
// time it stays above the low-water mark). Past that it is declared slow: it stops holding anyone, its QoS 0
// deliveries are dropped and counted (stats droppedSlow, $SYS) with one log line per episode, and its QoS 1/2
// deliveries queue up to the session limits as for an offline session (refused beyond: counted, logged, 5.0 0x97).
// Optionally it is disconnected once the episode lasts `slowConsumerDisconnectMs`. The episode ends when it drains
// below the low-water marks.
//
// Two consequences worth knowing: while a subscriber holds a publisher and is not slow, a delivery to it is queued
// even over maxQueuedMessages (at most one message per held publisher: that publisher handles no further packet),
// so a reading subscriber loses nothing; and a connection never holds itself (a client subscribed to what it
// publishes would otherwise stop reading its own PUBACKs).
import type { Clock, Logger, TimerHandle } from "../util/index.ts";
import type { Counters } from "./stats.ts";

export interface OverloadOptions {
  /** Outbound bytes (unflushed + unsent in the transport + queued payloads) at which publishers are held. */
  highWaterBytes: number;
  /** Outbound bytes at or below which held publishers go again (with lowWaterMessages). */
  lowWaterBytes: number;
  /** Queued deliveries at which publishers are held (capped at maxQueuedMessages). */
  highWaterMessages: number;
  /** Queued deliveries at or below which held publishers go again (with lowWaterBytes). */
  lowWaterMessages: number;
  /** Longest a subscriber may hold publishers in one episode before it is declared slow; 0 = never hold. */
  stallLimitMs: number;
  /** Disconnect a subscriber that stayed over its marks this long; 0 = never. */
  slowConsumerDisconnectMs: number;
}

export const DEFAULT_OVERLOAD_OPTIONS: Readonly<OverloadOptions> = Object.freeze({
  // 1 MiB: the TCP transport's own write mark; with 100 B messages ~8,000 deliveries, a few ms of writing.
  highWaterBytes: 1024 * 1024,
  lowWaterBytes: 256 * 1024,
  // The default session queue holds 1,000: hold publishers before it is full, resume at a quarter.
  highWaterMessages: 1000,
  lowWaterMessages: 250,
  // Long enough for a reading client's GC pause or a burst; short enough that a stuck client costs the others one
  // second, once (it stays slow until it reads again).
  stallLimitMs: 1000,
  slowConsumerDisconnectMs: 0,
});

/** A connection whose input can be held (the publisher side). Holds nest: one per subscriber holding it. */
export interface Producer {
  hold(): void;
  release(): void;
}

/** What the tracker reads from its subscriber connection. */
export interface OutboundSide {
  /** Unflushed + unsent-in-transport + queued payload bytes. */
  readonly pendingBytes: number;
  /** Deliveries waiting in the session queue. */
  readonly pendingMessages: number;
  readonly clientId: string | undefined;
  /** Policy disconnect of a slow consumer (5.0: DISCONNECT 0x97 Quota exceeded, if it can still be written). */
  disconnectSlow(): void;
  /**
   * An episode began or ended (`congested` changed). For a side that caches whether deliveries may skip loaded()
   * (an in-process subscription's direct intake: src/inproc/subscription.ts), so it need not ask per delivery.
   */
  congestionChanged?(): void;
}

/** Broker-wide context shared by every tracker. */
export interface PressureEnv {
  readonly options: OverloadOptions;
  readonly maxQueuedMessages: number;
  readonly clock: Clock;
  readonly counters: Counters;
  readonly logger: Logger;
  /** The connection whose packet is being handled right now (set around each dispatch), if any. */
  readonly producer: Producer | undefined;
}

/** The broker's PressureEnv: the options plus who is publishing right now (set by Connection around each packet). */
export class OverloadState implements PressureEnv {
  producer: Producer | undefined = undefined;

  constructor(
    readonly options: OverloadOptions,
    readonly maxQueuedMessages: number,
    readonly clock: Clock,
    readonly counters: Counters,
    readonly logger: Logger,
  ) {}
}

export class OutboundPressure {
  #congested = false;
  #slow = false;
  #since = 0;
  #dropped = 0;
  #held: Set<Producer> | undefined = undefined;
  #stallTimer: TimerHandle | undefined = undefined;
  #disconnectTimer: TimerHandle | undefined = undefined;
  readonly #highMessages: number;
  readonly #lowMessages: number;
  /** quietAt()'s byte limit: the high byte mark, or 0 when any queued message reaches the message mark. */
  readonly #quietBytes: number;

  constructor(
    private readonly out: OutboundSide,
    /** The subscriber's own connection as a producer: it never holds itself. */
    private readonly self: Producer,
    private readonly env: PressureEnv,
  ) {
    const o = env.options;
    this.#highMessages = Math.min(o.highWaterMessages, env.maxQueuedMessages);
    this.#lowMessages = Math.min(o.lowWaterMessages, this.#highMessages);
    this.#quietBytes = this.#highMessages > 0 ? o.highWaterBytes : 0;
  }

  /** Declared slow: QoS 0 deliveries are dropped (dropQos0), QoS 1/2 queue within the session limits. */
  get slow(): boolean {
    return this.#slow;
  }

  /** True while an episode runs (over the high mark, not yet back below the low marks). */
  get congested(): boolean {
    return this.#congested;
  }

  /**
   * Whether a delivery now comes from a publisher this subscriber can hold: then it may be queued past the queue
   * limit (by at most one message per held publisher) instead of being dropped or refused.
   */
  get canHold(): boolean {
    const p = this.env.producer;
    return !this.#slow && p !== undefined && p !== this.self;
  }

  /**
   * Whether loaded() would do nothing with `pendingBytes` and no queued delivery: no episode running and below the
   * high byte mark (a direct intake that finds this true may skip loaded()).
   */
  quietAt(pendingBytes: number): boolean {
    return !this.#congested && pendingBytes < this.#quietBytes;
  }

  /** quietAt()'s byte limit (pending bytes below it are quiet while no episode runs). */
  get quietBytes(): number {
    return this.#quietBytes;
  }

  /** A delivery was handed to this subscriber: begins an episode over the high marks and holds the producer. */
  loaded(): void {
    const out = this.out;
    if (
      this.#congested ||
      out.pendingBytes >= this.env.options.highWaterBytes ||
      out.pendingMessages >= this.#highMessages
    )
      this.#over();
  }

  /**
   * loaded() over a high mark or in an episode. Out of line: loaded() is inlined into every delivery
   * (Session.deliver, the router), whose inlining budget counts its whole bytecode (188 bytes with this part;
   * docs/benchmarks.md, stop 22), and a subscriber of a fan-in benchmark only now and then runs over its marks.
   */
  #over(): void {
    if (!this.#congested) this.#begin();
    const p = this.env.producer;
    if (this.#slow || p === undefined || p === this.self) return;
    const held = (this.#held ??= new Set());
    if (held.has(p)) return;
    held.add(p);
    this.env.counters.backpressureHolds++;
    p.hold();
  }

  /** Something left the outbound side (flush, socket drain, acknowledgement): ends the episode below the low marks. */
  eased(): void {
    if (!this.#congested) return;
    if (this.out.pendingBytes > this.env.options.lowWaterBytes || this.out.pendingMessages > this.#lowMessages) return;
    this.#end();
  }

  /** A QoS 0 delivery to this (slow) subscriber was dropped. */
  dropQos0(): void {
    this.#dropped++;
    this.env.counters.droppedSlow++;
    this.env.counters.droppedQos0++;
  }

  /** The connection closed: every publisher it held goes again. */
  close(): void {
    this.#cancelTimers();
    this.#releaseAll();
    const was = this.#congested;
    this.#congested = false;
    this.#slow = false;
    if (was) this.out.congestionChanged?.();
  }

  #begin(): void {
    this.#congested = true;
    this.out.congestionChanged?.();
    this.#since = this.env.clock.now();
    this.#dropped = 0;
    const o = this.env.options;
    if (o.stallLimitMs === 0) this.#declareSlow();
    else this.#stallTimer = this.env.clock.setTimeout(() => this.#declareSlow(), o.stallLimitMs);
    if (o.slowConsumerDisconnectMs > 0) {
      this.#disconnectTimer = this.env.clock.setTimeout(() => {
        this.#disconnectTimer = undefined;
        if (!this.#congested) return;
        this.env.logger.warn(
          { clientId: this.out.clientId, overMs: this.env.clock.now() - this.#since, dropped: this.#dropped },
          "slow consumer: disconnecting (overload.slowConsumerDisconnectMs)",
        );
        this.out.disconnectSlow();
      }, o.slowConsumerDisconnectMs);
    }
  }

  #declareSlow(): void {
    this.#stallTimer = undefined;
    if (!this.#congested || this.#slow) return;
    this.#slow = true;
    this.env.counters.slowConsumers++;
    // The one log line of this episode (the recovery is logged at debug only).
    this.env.logger.warn(
      {
        clientId: this.out.clientId,
        pendingBytes: this.out.pendingBytes,
        pendingMessages: this.out.pendingMessages,
        stallLimitMs: this.env.options.stallLimitMs,
      },
      "slow consumer: publishers no longer wait for it; its QoS 0 messages are dropped until it catches up",
    );
    this.#releaseAll();
  }

  #end(): void {
    this.#congested = false;
    this.out.congestionChanged?.();
    this.#cancelTimers();
    if (this.#slow) {
      this.#slow = false;
      this.env.logger.debug(
        { clientId: this.out.clientId, dropped: this.#dropped, ms: this.env.clock.now() - this.#since },
        "slow consumer caught up",
      );
    }
    this.#releaseAll();
  }

  #releaseAll(): void {
    const held = this.#held;
    if (held === undefined || held.size === 0) return;
    this.#held = undefined;
    for (const p of held) p.release();
  }

  #cancelTimers(): void {
    this.#stallTimer?.cancel();
    this.#stallTimer = undefined;
    this.#disconnectTimer?.cancel();
    this.#disconnectTimer = undefined;
  }
}
