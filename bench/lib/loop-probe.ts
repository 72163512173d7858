// The load generator's own stalls over a measurement window: its event-loop delay and its garbage-collection
// pauses. In the latency scenario the publisher and the subscriber live in this process, so a 2 ms stall here
// shows up as 2 ms of "latency" of whichever broker is being measured; each round reports these next to the
// broker's percentiles so such a round can be recognised instead of charged to the broker.
// Cost: one 1 ms timer (the latency publisher already ticks every ms) and ~1 µs per collection.

import { PerformanceObserver, monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface GeneratorStalls {
  /** Event-loop delay of the generator over the window, ms (a 1 ms timer's lateness). */
  loopP99Ms: number;
  loopMaxMs: number;
  /** GC pauses on the generator's main thread inside the window. */
  gcCount: number;
  gcTotalMs: number;
  gcMaxMs: number;
}

export class GeneratorProbe {
  readonly #loop: IntervalHistogram = monitorEventLoopDelay({ resolution: 1 });
  readonly #obs: PerformanceObserver;
  #open = false;
  #gcCount = 0;
  #gcTotal = 0;
  #gcMax = 0;

  constructor() {
    this.#obs = new PerformanceObserver((list) => {
      if (!this.#open) return;
      for (const e of list.getEntries()) {
        this.#gcCount++;
        this.#gcTotal += e.duration;
        if (e.duration > this.#gcMax) this.#gcMax = e.duration;
      }
    });
    this.#obs.observe({ entryTypes: ["gc"] });
  }

  start(): void {
    this.#loop.reset();
    this.#loop.enable();
    this.#gcCount = 0;
    this.#gcTotal = 0;
    this.#gcMax = 0;
    this.#open = true;
  }

  /** Ends the window and the probe. */
  stop(): GeneratorStalls {
    this.#open = false;
    this.#loop.disable();
    this.#obs.disconnect();
    const ms = (ns: number): number => ns / 1e6;
    return {
      loopP99Ms: ms(this.#loop.percentile(99)),
      loopMaxMs: ms(this.#loop.max),
      gcCount: this.#gcCount,
      gcTotalMs: this.#gcTotal,
      gcMaxMs: this.#gcMax,
    };
  }
}
