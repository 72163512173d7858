// Write coalescing: packets for a connection are encoded into a per-connection list during an event-loop turn
// and handed to the transport in ONE write() per connection per turn. A single setImmediate per broker (not per
// connection) flushes every connection that has something pending, so a fan-out to 10k subscribers costs one
// scheduled callback plus one write per subscriber.

export interface Flushable {
  flush(): void;
}

export class FlushScheduler {
  #dirty: Flushable[] = [];
  #scheduled = false;

  /** Marks a connection as having pending output; the caller ensures it is added once per turn. */
  schedule(c: Flushable): void {
    this.#dirty.push(c);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** Flushes now (used by close paths that must not wait for the next turn). */
  flushAll(): void {
    this.#run();
  }

  readonly #run = (): void => {
    this.#scheduled = false;
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const c of dirty) c.flush();
  };
}
