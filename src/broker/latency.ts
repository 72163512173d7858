// The publish-to-delivery latency of timed messages, handed straight to a sink (the metrics' histogram) instead of
// an event per delivery. In fan-out every first delivery of a timed message is one observation (50 per timed message
// to 50 subscribers), and the event channel cost each of them an event object, a diagnostics_channel publish and
// three listener calls before the histogram's own ~10 ns (docs/benchmarks.md, operations, stop 18).

/**
 * Where the broker reports each first delivery of a timed message (Broker.setDeliveryLatency). Not timed: resends,
 * retained messages sent on subscribe, messages restored from storage or forwarded by another node, durable-queue
 * deliveries.
 */
export interface DeliveryLatencySink {
  /** One first delivery at `qos`, written to its connection `seconds` after its message entered routing. */
  record(qos: number, seconds: number): void;
}

/**
 * The broker's one slot for the sink, shared by its sessions (SessionEnv.latency) and its routing: while it is
 * empty no message is timed.
 */
export interface LatencySlot {
  sink: DeliveryLatencySink | undefined;
}
