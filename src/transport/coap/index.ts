// CoAP bridge (RFC 7252 over UDP, the `coap` package): `POST`/`PUT coap://host/ps/<topic>` publishes the payload,
// `GET` answers the topic's retained value, `GET` with Observe subscribes a topic or filter (observe.ts). Requests
// act as MQTT 5.0 clients of the broker through the TransportConnection seam (LoopbackClient), so authentication
// (query `u` and `p`), ACL, limits and acknowledgement rules are those of MQTT clients:
//  - a publish is answered 2.04 only once the broker acknowledged it at the requested QoS (default 1: PUBACK, after
//    the storage commit with persistence). A confirmable request is answered in its ACK (piggybacked) when that
//    takes under PIGGYBACK_MS; beyond, the ACK goes out empty (to stop the client's retransmissions, which start
//    at ACK_TIMEOUT = 2 s) and 2.04 follows as a separate confirmable response.
//  - refusals map to CoAP codes: 4.00 bad request, 4.01 bad or missing credentials, 4.03 ACL, 4.04 not /ps/,
//    4.05 method, 4.08/4.13 block-wise (blocks.ts), 4.29 quota, 5.03 unavailable; with a diagnostic payload.
// Duplicates of a confirmable request still being processed are dropped (the package's response cache answers
// those that come after the response).
import dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { ObserveWriteStream, type IncomingMessage, type OutgoingMessage, type OptionValue } from "coap";
import type { ConnectionAcceptor } from "../../broker/index.ts";
import type { Properties, PublishPacket, QoS } from "../../codec/index.ts";
import { validateTopicFilter, validateTopicName } from "../../topics/index.ts";
import { silentLogger, systemClock, type Clock, type Logger } from "../../util/index.ts";
import { classifyReasonCode, type BridgeErrorCode } from "../bridge/errors.ts";
import { BridgeMqttError, LoopbackClient } from "../bridge/loopback-client.ts";
import { PublisherPool, type BridgeCredentials } from "../bridge/pool.ts";
import type { ListenerHandle } from "../listen.ts";
import { Block1Assembler, CoapBridgeError, GuardedCoapServer, parseBlockOption } from "./blocks.ts";
import { asJson, LargeNotifications, notify } from "./observe.ts";
import {
  boolParam,
  CONTENT_FORMATS,
  credentialsOf,
  GET_PARAMS,
  jsonFormat,
  parseTarget,
  PUBLISH_PARAMS,
  qosParam,
} from "./request.ts";

export { CoapBridgeError } from "./blocks.ts";

/** A confirmable request answered within this is answered in the ACK itself. */
export const PIGGYBACK_MS = 1000;
/** Block-wise uploads in progress hold at most max(this, maxPacketSize) bytes in all. */
const BLOCK1_BUDGET = 64 * 1024 * 1024;
/** Large notifications kept for their Block2 follow-ups: at most max(this, maxPacketSize) bytes. */
const LARGE_NOTIFICATIONS_BYTES = 16 * 1024 * 1024;

export interface CoapListenerOptions {
  host: string;
  port: number;
  /** Largest message (payload) accepted or delivered block-wise. */
  maxPacketSize: number;
  /** At most this many observations at once (undefined = unlimited); beyond, 5.03. */
  maxConnections?: number;
}

const COAP_CODE: Record<BridgeErrorCode, string> = {
  unauthorized: "4.01",
  forbidden: "4.03",
  invalid_topic: "4.00",
  payload_too_large: "4.13",
  invalid_payload: "4.00",
  quota_exceeded: "4.29",
  qos_not_supported: "4.00",
  retain_not_supported: "4.00",
  unavailable: "5.03",
  refused: "5.02",
};

type Response = OutgoingMessage | ObserveWriteStream;

interface Observation {
  client: LoopbackClient | undefined;
  res: ObserveWriteStream;
}

function isObserveStream(res: Response): res is ObserveWriteStream {
  return res instanceof ObserveWriteStream;
}

function setOptions(res: Response, options: Record<string, OptionValue>): void {
  for (const [k, v] of Object.entries(options)) res.setOption(k as "ETag", v);
}

export async function listenCoap(
  broker: ConnectionAcceptor,
  opts: CoapListenerOptions,
  logger: Logger = silentLogger,
  clock: Clock = systemClock,
): Promise<ListenerHandle> {
  const blocks = new Block1Assembler(opts.maxPacketSize, Math.max(BLOCK1_BUDGET, opts.maxPacketSize), clock);
  const server = new GuardedCoapServer({ piggybackReplyMs: PIGGYBACK_MS }, blocks);
  const pool = new PublisherPool(broker, "coap", clock);
  const large = new LargeNotifications(Math.max(LARGE_NOTIFICATIONS_BYTES, opts.maxPacketSize));
  const observations = new Map<string, Observation>();
  const inflight = new Set<string>();
  /** Set by close(): handlers still awaiting the broker must not answer (the package would arm 247 s timers). */
  let closed = false;
  /** Responses whose handler is still running: close() disarms their piggyback timers (a send after close throws). */
  const active = new Set<Response>();

  const reply = (
    res: Response,
    code: string,
    payload?: Buffer | string,
    options?: Record<string, OptionValue>,
  ): void => {
    if (res.writableEnded || closed) return;
    res.statusCode = code;
    res.code = code;
    if (options !== undefined) setOptions(res, options);
    // An observe stream's end(payload) would be a notification: errors on a registration carry no payload.
    if (isObserveStream(res) || payload === undefined) res.end();
    else res.end(payload);
  };

  const fail = (res: Response, err: unknown, creds: BridgeCredentials | undefined): void => {
    if (err instanceof CoapBridgeError) {
      reply(res, err.code, err.message, err.size1 !== undefined ? { Size1: err.size1 } : undefined);
      return;
    }
    if (err instanceof BridgeMqttError) {
      const f = classifyReasonCode(err.reasonCode, err.stage === "connect", creds !== undefined && creds.key !== "");
      reply(res, COAP_CODE[f.code], f.message);
      return;
    }
    logger.error({ err, type: "coap" }, "coap bridge: unexpected error");
    reply(res, "5.00", "internal error");
  };

  const topicName = (topic: string, what: string): void => {
    try {
      validateTopicName(topic);
    } catch (err) {
      throw new CoapBridgeError("4.00", `invalid ${what} ${JSON.stringify(topic)}: ${(err as Error).message}`);
    }
  };

  async function publish(req: IncomingMessage, res: Response, remote: string): Promise<void> {
    let creds: BridgeCredentials | undefined;
    try {
      const { topic, query } = parseTarget(req._packet, PUBLISH_PARAMS);
      topicName(topic, "topic");
      const qos = qosParam(query, 1);
      const retain = boolParam(query, "retain");
      creds = credentialsOf(query);
      const ct = req.headers["Content-Format"];
      const props: Properties | undefined = typeof ct === "string" ? { contentType: ct } : undefined;
      const verdict = server.verdicts.get(req._packet);
      const payload = verdict?.kind === "complete" ? verdict.payload : (req.payload ?? Buffer.alloc(0));
      await pool.with(creds, remote, (c) => c.publish(topic, payload, qos, retain, props));
      // The final response of a block-wise upload echoes its last Block1 [RFC 7959 §2.3].
      reply(res, "2.04", undefined, verdict?.kind === "complete" ? { Block1: verdict.block1 } : undefined);
    } catch (err) {
      fail(res, err, creds);
    }
  }

  /** Connects a subscriber for `filter`; messages before `start()` (the retained ones) are held. */
  async function subscriber(
    creds: BridgeCredentials,
    remote: string,
    filter: string,
    qos: QoS,
    onMessage: (m: PublishPacket) => void,
    onClose: () => void,
  ): Promise<{ client: LoopbackClient; held: PublishPacket[]; start(): void }> {
    const held: PublishPacket[] = [];
    let started = false;
    const client = await LoopbackClient.connect(broker, {
      kind: "coap",
      remoteAddress: remote,
      ...(creds.username !== undefined ? { username: creds.username } : {}),
      ...(creds.password !== undefined ? { password: creds.password } : {}),
      onMessage: (m) => (started ? onMessage(m) : held.push(m)),
      onClose,
    });
    try {
      await client.subscribe(filter, qos);
    } catch (err) {
      client.disconnect();
      throw err;
    }
    return { client, held, start: () => (started = true) };
  }

  /** GET without Observe: the retained value of a topic (4.04 when none), block-wise when large. */
  async function get(req: IncomingMessage, res: Response, remote: string): Promise<void> {
    let creds: BridgeCredentials | undefined;
    try {
      const { topic, query } = parseTarget(req._packet, GET_PARAMS);
      const b2 = req._packet.options?.find((o) => o.name === "Block2")?.value;
      const block = Buffer.isBuffer(b2) ? parseBlockOption(b2) : undefined;
      const cached = block !== undefined && block.num > 0 ? large.get(`${remote}|${req.url}`) : undefined;
      if (cached !== undefined) {
        if (closed) return;
        res.statusCode = "2.05";
        res.end(cached); // the package cuts the requested block and sets ETag
        return;
      }
      topicName(topic, "topic (a filter needs Observe)");
      const json = jsonFormat(query);
      creds = credentialsOf(query);
      const sub = await subscriber(
        creds,
        remote,
        topic,
        0,
        () => {},
        () => {},
      );
      sub.client.disconnect();
      const held = sub.held[0];
      const m = held !== undefined && json ? asJson(held) : held;
      if (m === undefined) throw new CoapBridgeError("4.04", `no retained message on ${topic}`);
      const ct = m.properties?.contentType;
      reply(res, "2.05", m.payload, ct !== undefined ? contentFormat(ct) : undefined);
    } catch (err) {
      fail(res, err, creds);
    }
  }

  function endObservation(key: string, o: Observation): void {
    if (observations.get(key) === o) observations.delete(key);
    o.client?.disconnect();
    if (!o.res.writableEnded) o.res.end();
  }

  async function observe(req: IncomingMessage, res: ObserveWriteStream, remote: string): Promise<void> {
    let creds: BridgeCredentials | undefined;
    const key = `${remote}/${(req._packet.token ?? Buffer.alloc(0)).toString("hex")}`;
    try {
      const { topic, query } = parseTarget(req._packet, GET_PARAMS);
      try {
        validateTopicFilter(topic);
      } catch (err) {
        throw new CoapBridgeError("4.00", `invalid topic filter ${JSON.stringify(topic)}: ${(err as Error).message}`);
      }
      const qos = qosParam(query, 0);
      const shape = jsonFormat(query) ? asJson : (m: PublishPacket): PublishPacket => m;
      if (req._packet.confirmable !== true) {
        throw new CoapBridgeError("4.00", "Observe needs a confirmable request (notifications are confirmable)");
      }
      creds = credentialsOf(query);
      const old = observations.get(key);
      if (old !== undefined) endObservation(key, old); // re-registration with the same token [RFC 7641 §4.1]
      if (opts.maxConnections !== undefined && observations.size >= opts.maxConnections) {
        logger.warn({ type: "coap", remote, max: opts.maxConnections }, "observation limit reached: refusing");
        throw new CoapBridgeError("5.03", "too many observations");
      }
      const o: Observation = { client: undefined, res };
      observations.set(key, o); // holds the slot while connecting
      res.on("finish", () => endObservation(key, o));
      res.on("error", (err: Error) =>
        logger.debug({ type: "coap", remote, err: err.message }, "coap notification failed"),
      );
      const largeKey = `${remote}|${req.url}`;
      let sub: Awaited<ReturnType<typeof subscriber>>;
      try {
        sub = await subscriber(
          creds,
          remote,
          topic,
          qos,
          (m) => notify(res, shape(m), large, largeKey),
          // The broker closed it (shutdown, takeover): only once registered; a refusal is answered below.
          () => {
            if (o.client !== undefined) endObservation(key, o);
          },
        );
      } catch (err) {
        if (observations.get(key) === o) observations.delete(key);
        throw err;
      }
      o.client = sub.client;
      if (observations.get(key) !== o || res.writableEnded) {
        sub.client.disconnect();
        return;
      }
      if (closed) return;
      sub.start();
      if (sub.held.length === 0) res.write(Buffer.alloc(0));
      for (const m of sub.held) notify(res, shape(m), large, largeKey);
    } catch (err) {
      fail(res, err, creds);
    }
  }

  async function handle(req: IncomingMessage, res: Response): Promise<void> {
    const remote = `${req.rsinfo.address}:${req.rsinfo.port}`;
    const id = `${remote}/${req._packet.messageId ?? ""}`;
    if (req._packet.confirmable === true) {
      if (inflight.has(id)) return; // a retransmission of a request still being processed
      inflight.add(id);
    }
    active.add(res);
    try {
      const verdict = server.verdicts.get(req._packet);
      if (verdict?.kind === "refuse") return fail(res, verdict.error, undefined);
      if (verdict?.kind === "continue") return reply(res, "2.31", undefined, { Block1: verdict.block1 });
      switch (req.method) {
        case "POST":
        case "PUT":
          return await publish(req, res, remote);
        case "GET":
          if (isObserveStream(res)) return await observe(req, res, remote);
          if (req.headers.Observe === 1) {
            // Deregistration [RFC 7641 §3.6]: end the observation, then answer as a plain GET.
            const key = `${remote}/${(req._packet.token ?? Buffer.alloc(0)).toString("hex")}`;
            const o = observations.get(key);
            if (o !== undefined) endObservation(key, o);
          }
          return await get(req, res, remote);
        default:
          return fail(
            res,
            new CoapBridgeError("4.05", "use POST or PUT (publish) or GET (retained value, Observe)"),
            undefined,
          );
      }
    } finally {
      inflight.delete(id);
      active.delete(res);
    }
  }

  server.on("request", (req: IncomingMessage, res: Response) => void handle(req, res));
  server.on("error", (err: Error) => logger.error({ err, type: "coap" }, "listener error"));

  const socket = dgram.createSocket({ type: isIPv6(opts.host) ? "udp6" : "udp4" });
  const port = await new Promise<number>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(opts.port, opts.host, () => {
      socket.off("error", reject);
      resolve(socket.address().port);
    });
  });
  server.listen(socket);
  logger.info({ type: "coap", host: opts.host, port }, "coap listener started");

  return {
    type: "coap",
    host: opts.host,
    port,
    get connections() {
      return observations.size;
    },
    async close() {
      closed = true;
      for (const r of active) {
        if (!isObserveStream(r) && r._ackTimer !== null) clearTimeout(r._ackTimer);
      }
      for (const [k, o] of observations) endObservation(k, o);
      pool.close();
      blocks.close();
      server.close();
      // After the 'finish' events of the observations just ended (an unanswered registration answers on it).
      await new Promise((r) => setImmediate(r));
      socket.close();
    },
  };
}

function contentFormat(ct: string): Record<string, OptionValue> | undefined {
  return CONTENT_FORMATS.has(ct) ? { "Content-Format": ct } : undefined;
}
