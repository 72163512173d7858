// Knobs shared by the scenarios and the broker configs, in one place so the report can print them.

/** QoS 1 messages each publisher keeps in flight (refilled on PUBACK). */
export const QOS1_WINDOW = 100;
/** A publisher refills its window once this many slots are free (batched writes, window >= 90% full). */
export const QOS1_REFILL = 10;
/**
 * The MQTT 5 Receive Maximum our subscribers send, and the latency publisher's window. The brokers run with their
 * own default in-flight windows towards subscribers (Wharf 1,000, Mosquitto 20; see brokers/index.ts).
 */
export const BROKER_INFLIGHT = 1000;
/** Target bytes per socket.write of PUBLISH batches. */
export const BATCH_BYTES = 32 * 1024;
/**
 * Safety net for QoS 0: when more than this many bytes are published but not yet delivered, publishers
 * pause until delivery catches up (or stops: then the backlog counts as lost and they resume). It keeps
 * a broker that buffers without limit from eating the machine's memory; runs that hit it say so.
 */
export const LAG_CAP_BYTES = 64 * 1024 * 1024;
/** The same cap in deliveries, whichever binds first: bounds how long the drain after a run can take. */
export const LAG_CAP_MESSAGES = 100_000;
/** Open-loop runs: longest wait for stragglers (the backlog may sit in the publishers' own socket buffers). */
export const OPEN_LOOP_DRAIN_MS = 30_000;
/** Fixed-rate latency scenario: messages/s of all publishers together. */
export const LATENCY_RATE = 10_000;
/** Its publishers (issue #10 measured QoS 1 at 10,000 msg/s from 4 publishers to 1 subscriber). */
export const LATENCY_PUBLISHERS = 4;
/** Generator CPU (fraction of its core) at or above which a run is flagged invalid. */
export const GENERATOR_SATURATED = 0.9;
/** Above this much CPU used by other processes during a window (fraction of a core), the run says so. */
export const NOISY_MACHINE = 0.1;
/**
 * A latency round whose generator's 1 ms ticks ran late by more than this at their p99 (ms) measured the generator,
 * not the broker: the generator itself was not running, and such a stall delays its reading of deliveries too. In the
 * quiet runs of stops 17 and 18 (85 rounds of the three brokers) the generator's tick delay p99 was 0.03-0.27 ms in 81
 * rounds and 0.44-0.90 ms in 4, two of them in a run's first round; each of those 4 had the broker's p99 at 1.1-2.5 ms
 * against 0.26-0.6 ms in the rounds beside it, twice Wharf's and twice Mosquitto's.
 */
export const GENERATOR_STALLED_P99_MS = 0.3;
/** How often such a round is run again (fresh brokers, same broker) before it is kept as it is, flagged. */
export const GENERATOR_STALL_RERUNS = 2;

/**
 * Connects in flight at once during the storm. Mosquitto listens with a backlog of 100; more pending
 * connects than that overflow its accept queue and cost 1 s SYN retransmits, which would measure the
 * kernel queue rather than the broker.
 */
export const STORM_CONCURRENCY = 100;

export interface Timing {
  /** Publishing before the measurement window opens (JIT warm-up, queues filling). */
  warmupMs: number;
  /** The measurement window. */
  measureMs: number;
  /**
   * Throughput runs (bench:ops): a first window of measureMs that opens this long after publishing starts, measured
   * before the main window (which then opens at warmupMs, at least firstWindowMs + measureMs): what a fresh broker
   * does while V8 is still optimising the code the load made hot, next to the steady state after it.
   */
  firstWindowMs?: number;
  /** Longest wait for in-flight messages after publishing stops. */
  drainMaxMs: number;
  /** Drain also ends when nothing arrives for this long. */
  drainIdleMs: number;
  /** Warm-up of the paced queue scenario (queue.ts). */
  latencyWarmupMs: number;
  /**
   * Latency scenario (latency/qos1): publishing at the target rate before a round's window opens. Wharf's JIT is
   * not done at 1 s: with the C generator at 10,000 QoS 1 msg/s (5.0 and 3.1.1, `--trace-opt`), TurboFan still
   * compiled 3-5 functions first reaching V8's interrupt budget 1.0-2.3 s after the first message (processImmediate
   * 4.8-7.5 ms, #observed 3.6-9 ms, publish 2-6 ms, InflightMap get, #resize), none after 2.5 s but for one
   * of <1 ms in 8 s; each compile on the broker's one CPU held back 25-75 messages by 0.3-2.5 ms, a third of a 3 s
   * window's 300-message p99 tail. 3 s measures the steady state for every broker (Mosquitto has no JIT).
   */
  latencyRoundWarmupMs: number;
  /** Window of the paced queue scenario (queue.ts). */
  latencyMeasureMs: number;
  /** Latency scenario: one round's window; the rounds run on fresh brokers, interleaved between brokers (run.ts). */
  latencyRoundMs: number;
  latencyRounds: number;
  /**
   * Latency generator: "c" (bench/tools/latgen.c, default: no generator GC/JIT/timer stalls in the figure) or "node"
   * (the raw-socket Node clients; also what TLS/WebSocket runs use).
   */
  latencyGen: "c" | "node";
  stormConnections: number;
  stormConcurrency: number;
  stormHoldMs: number;
  /**
   * Held storm (`storm/N-conns`): rounds per broker, each on a fresh broker process, interleaved between brokers
   * (run.ts), reported as the median with the range. One fresh-broker round moved by ~50 % on the same code (84 vs
   * 132 µs per connect, stop 13), so one round cannot decide the ≥ 10k connects/s target.
   */
  stormRounds: number;
  /** Slow-consumer stuck phase: publishing before its window (longer than Wharf's default stall limit, 1 s). */
  slowWarmupMs: number;
  /** Slow-consumer stuck phase window (issue #10: RSS bounded over a 60 s run). */
  slowMeasureMs: number;
  /**
   * Slow-consumer baseline (all subscribers read): publishing before its window, and the window. It was the
   * throughput scenarios' 1 s + 3 s, and the healthy rate it gave moved between 4.27M and 5.37M deliveries/s on the
   * same main (stop 17, 05:19-05:43, load 1-2) while the 60 s stuck window behind it stayed at 3.90-4.31M: the
   * share (stuck / baseline) went from 76 % to 101 % with the baseline alone. The broker's JIT is not done 1 s into
   * the load (latencyRoundWarmupMs); 3 s + 10 s compares steady state with steady state.
   */
  slowBaseWarmupMs: number;
  slowBaseMeasureMs: number;
}

export const FULL: Timing = {
  warmupMs: 1000,
  measureMs: 3000,
  drainMaxMs: 20_000,
  drainIdleMs: 1000,
  latencyWarmupMs: 1000,
  latencyRoundWarmupMs: 3000,
  latencyMeasureMs: 5000,
  // 5 rounds of 3 s (150,000 samples per broker) instead of one of 5 s: a single round's p99 moved by more than
  // the gap between the brokers (0.58 vs 1.64 ms for the same code, stop 12), so one round cannot decide.
  latencyRoundMs: 3000,
  latencyRounds: 5,
  latencyGen: "c",
  stormConnections: 5000,
  stormConcurrency: STORM_CONCURRENCY,
  stormHoldMs: 2000,
  stormRounds: 5,
  slowWarmupMs: 3000,
  slowMeasureMs: 60_000,
  slowBaseWarmupMs: 3000,
  slowBaseMeasureMs: 10_000,
};

export const QUICK: Timing = {
  warmupMs: 300,
  measureMs: 1000,
  drainMaxMs: 10_000,
  drainIdleMs: 1000,
  latencyWarmupMs: 500,
  latencyRoundWarmupMs: 500,
  latencyMeasureMs: 2000,
  latencyRoundMs: 2000,
  latencyRounds: 1,
  latencyGen: "c",
  stormConnections: 5000,
  stormConcurrency: STORM_CONCURRENCY,
  stormHoldMs: 1000,
  stormRounds: 1,
  slowWarmupMs: 2000,
  slowMeasureMs: 5000,
  slowBaseWarmupMs: 300,
  slowBaseMeasureMs: 1000,
};
