// Broker counters. Mutable fields bumped on the hot path; Broker.stats() returns a snapshot (for $SYS and polling;
// event-driven consumers attach to the event seam instead, events.ts).

export interface BrokerStats {
  /** Connections that completed CONNECT and are still open. */
  clientsConnected: number;
  /** Sessions known to the broker: connected plus disconnected persistent ones (Mosquitto's clients/total). */
  clientsTotal: number;
  /** Highest clientsConnected seen. */
  clientsMaximum: number;
  /** PUBLISH packets received from clients. */
  messagesReceived: number;
  /** PUBLISH packets sent to clients (resends included). */
  messagesSent: number;
  bytesReceived: number;
  bytesSent: number;
  /** Subscriptions across all sessions. */
  subscriptions: number;
  /** Retained messages stored. */
  retained: number;
  /** QoS 0 deliveries dropped: a session queue was full, or the subscriber was declared slow (droppedSlow). */
  droppedQos0: number;
  /** Of droppedQos0: dropped because the subscriber was declared a slow consumer (src/broker/backpressure.ts). */
  droppedSlow: number;
  /** Slow-consumer episodes: subscribers that held publishers past overload.stallLimitMs. */
  slowConsumers: number;
  /** Times a publisher's input was held because its messages landed on a subscriber over its high-water mark. */
  backpressureHolds: number;
  /** QoS 1/2 deliveries refused because a session queue was full (never silent: also logged at warn). */
  queueRejected: number;
  /** 5.0 messages discarded from queues or the retained store because their Message Expiry Interval passed. */
  expired: number;
  /** Deliveries waiting in session queues right now. */
  queued: number;
  /** QoS 1/2 deliveries sent and not yet fully acknowledged right now. */
  inflight: number;
  /** Seconds since the broker started. */
  uptime: number;
}

/** The monotonically increasing part, owned by the broker and bumped in place. */
export class Counters {
  messagesReceived = 0;
  messagesSent = 0;
  /** Messages entering routing (clients, wills, in-process, $SYS), by QoS: an array index bump, no event. */
  readonly routedByQos: [number, number, number] = [0, 0, 0];
  /** PUBLISH packets written to clients (resends included), by QoS. */
  readonly sentByQos: [number, number, number] = [0, 0, 0];
  bytesReceived = 0;
  bytesSent = 0;
  droppedQos0 = 0;
  droppedSlow = 0;
  slowConsumers = 0;
  backpressureHolds = 0;
  queueRejected = 0;
  expired = 0;
  clientsConnected = 0;
  clientsMaximum = 0;
  /**
   * Connections accepted (CONNACK 0x00 sent), by transport kind; accepted connections that ended, by initiator;
   * CONNECTs refused by authentication, by reason code (5.0 numbering). Counted here, read by the metrics at scrape
   * time: as events, each connect cost the broker two event objects and two channel publishes for the metrics alone
   * (issue #10, connection storm).
   */
  readonly connectsByTransport = new Map<string, number>();
  readonly disconnectsByInitiator = { client: 0, server: 0, lost: 0 };
  readonly authFailuresByReason = new Map<number, number>();
}
