// The broker an end-to-end test talks to. By default Wharf, started in-process through test/helpers/broker.ts; with
// WHARF_TEST_TARGET=mosquitto the Debian Mosquitto 2.0 broker, so the MQTT 5.0 acceptance suite
// (test/integration/mqtt5) can be checked against a reference implementation before Wharf has the feature.
import type { AclRule } from "../../src/broker/options.ts";
import { FakeClock } from "../../src/util/clock.ts";
import { startMosquitto } from "./mosquitto.ts";
import type { MosquittoOptions } from "./mosquitto.ts";

export type TargetKind = "wharf" | "mosquitto";

/** Which broker this test run targets (WHARF_TEST_TARGET=mosquitto, default wharf). */
export const targetKind: TargetKind = process.env.WHARF_TEST_TARGET === "mosquitto" ? "mosquitto" : "wharf";

/**
 * Broker settings a test needs. The generic fields use Wharf's BrokerOptions names (src/broker/options.ts) and are
 * mapped onto Mosquitto's config where it has an equivalent; `wharf` holds Wharf-only options (see
 * test/integration/mqtt5/wharf-options.ts), ignored for Mosquitto.
 */
export interface TargetOptions {
  /** Mosquitto: max_keepalive. */
  maxKeepAlive?: number;
  /** Mosquitto: max_packet_size. */
  maxPacketSize?: number;
  /** Outbound in-flight window. Mosquitto: max_inflight_messages. */
  maxInflight?: number;
  /** Receive Maximum the server announces. Mosquitto: max_inflight_messages (it announces that value). */
  receiveMaximum?: number;
  /** Mosquitto: max_topic_alias (listener). */
  topicAliasMaximum?: number;
  /** Mosquitto: max_qos (listener). */
  maximumQoS?: 0 | 1 | 2;
  /** Mosquitto: retain_available. */
  retainAvailable?: boolean;
  /** Mosquitto: max_queued_messages. */
  maxQueuedMessages?: number;
  /** Mosquitto: auto_id_prefix. */
  clientIdPrefix?: string;
  /** Mosquitto: allow_anonymous. */
  allowAnonymous?: boolean;
  /**
   * Wharf ACL rules. Mosquitto: an acl_file with `topic deny|readwrite <topic>` per rule (in order) and a final
   * `topic readwrite #`; Mosquitto cannot express action-specific or per-client rules, so keep tests to
   * topic-only rules.
   */
  acl?: AclRule[];
  /**
   * Wharf: the broker runs on a FakeClock (starting at the real time) that only advance() moves, so timers
   * (session expiry, message expiry, will delay) are tested without waiting. Mosquitto: advance() sleeps.
   */
  fakeClock?: boolean;
  /** Wharf-only options, merged last into startBroker()'s options. */
  wharf?: Record<string, unknown>;
  /** Extra raw Mosquitto config lines. */
  mosquitto?: { global?: string[]; listener?: string[] };
}

export interface Target {
  readonly kind: TargetKind;
  readonly host: string;
  readonly port: number;
  /** mqtt://host:port */
  readonly url: string;
  /** Wharf only: the in-process broker object returned by startBroker(). */
  readonly broker: unknown;
  /** Stops the broker (Wharf: broker shutdown; Mosquitto: SIGTERM). Idempotent. */
  close(): Promise<void>;
  /** Lets `ms` of broker time pass: at once on a Wharf fakeClock target (its timers fire), else a real sleep. */
  advance(ms: number): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Shape of test/helpers/broker.ts (written with the broker core). */
interface WharfBrokerHelper {
  startBroker(opts?: Record<string, unknown>): Promise<{
    broker: unknown;
    port: number;
    url: string;
    close(): Promise<void>;
  }>;
}

const GENERIC_KEYS = [
  "maxKeepAlive",
  "maxPacketSize",
  "maxInflight",
  "receiveMaximum",
  "topicAliasMaximum",
  "maximumQoS",
  "retainAvailable",
  "maxQueuedMessages",
  "clientIdPrefix",
  "allowAnonymous",
  "acl",
] as const;

let wharfHelper: Promise<WharfBrokerHelper> | undefined;

function loadWharfHelper(): Promise<WharfBrokerHelper> {
  // A computed specifier keeps this file compiling before test/helpers/broker.ts exists. WHARF_TEST_BROKER_HELPER
  // (an absolute path or file URL) substitutes another module with the same startBroker() contract.
  const spec = process.env.WHARF_TEST_BROKER_HELPER ?? "./broker.ts";
  wharfHelper ??= (import(spec) as Promise<WharfBrokerHelper>).then(
    (m) => {
      if (typeof m.startBroker !== "function") throw new Error("test/helpers/broker.ts does not export startBroker()");
      return m;
    },
    (e: unknown) => {
      throw new Error(
        "Cannot start Wharf: test/helpers/broker.ts (startBroker) is missing or failed to load. " +
          "Run with WHARF_TEST_TARGET=mosquitto to check the suite against Mosquitto. Cause: " +
          String(e instanceof Error ? e.message : e),
      );
    },
  );
  return wharfHelper;
}

function mosquittoConfig(o: TargetOptions): MosquittoOptions {
  const global: string[] = [];
  const listener: string[] = [];
  if (o.maxKeepAlive !== undefined) global.push(`max_keepalive ${o.maxKeepAlive}`);
  if (o.maxPacketSize !== undefined) global.push(`max_packet_size ${o.maxPacketSize}`);
  const inflight = [o.maxInflight, o.receiveMaximum].filter((x): x is number => x !== undefined);
  if (inflight.length > 0) global.push(`max_inflight_messages ${Math.min(...inflight)}`);
  if (o.retainAvailable !== undefined) global.push(`retain_available ${o.retainAvailable}`);
  if (o.maxQueuedMessages !== undefined) global.push(`max_queued_messages ${o.maxQueuedMessages}`);
  if (o.clientIdPrefix !== undefined) global.push(`auto_id_prefix ${o.clientIdPrefix}`);
  if (o.allowAnonymous !== undefined) global.push(`allow_anonymous ${o.allowAnonymous}`);
  if (o.topicAliasMaximum !== undefined) listener.push(`max_topic_alias ${o.topicAliasMaximum}`);
  if (o.maximumQoS !== undefined) listener.push(`max_qos ${o.maximumQoS}`);
  global.push(...(o.mosquitto?.global ?? []));
  listener.push(...(o.mosquitto?.listener ?? []));
  const aclFile =
    o.acl === undefined
      ? undefined
      : [
          ...o.acl.map((r) => `topic ${r.permission === "deny" ? "deny" : "readwrite"} ${r.topic}`),
          "topic readwrite #",
          "",
        ].join("\n");
  return { global, listener, aclFile };
}

/** Starts the target broker on a free loopback port. The caller must close() it (t.after). */
export async function startTarget(opts: TargetOptions = {}): Promise<Target> {
  if (targetKind === "mosquitto") {
    const m = await startMosquitto(mosquittoConfig(opts));
    return {
      kind: "mosquitto",
      host: m.host,
      port: m.port,
      url: `mqtt://${m.host}:${m.port}`,
      broker: undefined,
      close: () => m.close(),
      advance: sleep,
    };
  }
  const helper = await loadWharfHelper();
  const brokerOpts: Record<string, unknown> = {};
  for (const k of GENERIC_KEYS) if (opts[k] !== undefined) brokerOpts[k] = opts[k];
  const clock = opts.fakeClock === true ? new FakeClock(Date.now()) : undefined;
  if (clock !== undefined) brokerOpts.clock = clock;
  Object.assign(brokerOpts, opts.wharf ?? {});
  const w = await helper.startBroker(brokerOpts);
  let closing: Promise<void> | undefined;
  return {
    kind: "wharf",
    host: "127.0.0.1",
    port: w.port,
    url: w.url,
    broker: w.broker,
    close: () => (closing ??= w.close()),
    async advance(ms) {
      if (clock === undefined) return sleep(ms);
      clock.advance(ms);
      await new Promise((r) => setImmediate(r)); // let the writes of the timers that fired go out
    },
  };
}
