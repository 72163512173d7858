// HTTP bridge: publish with `POST /topics/<topic>`, consume with `GET /topics/<filter>` as Server-Sent Events.
// Requests act as MQTT 5.0 clients of the broker through the TransportConnection seam (LoopbackClient), so the
// same authentication (HTTP Basic -> User Name/Password, Bearer -> Password), ACL, limits and acknowledgement
// rules apply as to any MQTT client:
//  - QoS 1/2 (default 1): 200 only once the broker acknowledged the message (PUBACK/PUBCOMP: accepted, and with
//    persistent storage durable); a refusal maps to a JSON 4xx/5xx carrying the MQTT reason code.
//  - QoS 0: 202 once handed to the broker; QoS 0 has no acknowledgement, so an ACL denial cannot be reported.
//  - Connections are pooled per Authorization header (the exact credential string) and closed after 30 s idle,
//    so keep-alive traffic does not pay a CONNECT per request.
import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { Properties, PublishPacket, QoS, UserProperty } from "../../codec/index.ts";
import type { ConnectionAcceptor } from "../../broker/index.ts";
import { EPHEMERAL_GROUP_PREFIX } from "../../queues/index.ts";
import { validateTopicFilter, validateTopicName } from "../../topics/index.ts";
import type { Clock, Logger } from "../../util/index.ts";
import { classifyReasonCode, type BridgeErrorCode } from "../bridge/errors.ts";
import { messageJson } from "../bridge/json.ts";
import { BridgeMqttError, LoopbackClient } from "../bridge/loopback-client.ts";
import { PublisherPool, type BridgeCredentials } from "../bridge/pool.ts";
import { sendJson, type WebServer } from "../web/server.ts";
import { requestTarget, type RequestTarget } from "./target.ts";

export const TOPICS_PREFIX = "/topics/";
/** SSE comment line every 15 s keeps proxies from closing an idle stream. */
const SSE_HEARTBEAT_MS = 15_000;
/** Bytes an SSE response may buffer before the broker is told to stop writing (it then queues per session). */
const SSE_HIGH_WATER = 1024 * 1024;

export interface HttpBridgeOptions {
  kind: "http" | "https";
  /** Largest request body (bytes): the listener's maximum packet size. */
  maxBodySize: number;
}

/** A client-facing error: HTTP status, stable code, message. */
export class HttpBridgeError extends Error {
  override readonly name = "HttpBridgeError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly reasonCode?: number,
  ) {
    super(message);
  }
}

/** HTTP status of each bridge error code. */
const HTTP_STATUS: Record<BridgeErrorCode, number> = {
  unauthorized: 401,
  forbidden: 403,
  invalid_topic: 400,
  payload_too_large: 413,
  invalid_payload: 400,
  quota_exceeded: 429,
  qos_not_supported: 400,
  retain_not_supported: 400,
  unavailable: 503,
  refused: 502,
};

/** MQTT reason code -> HTTP status and stable error code. */
function fromReasonCode(rc: number, atConnect: boolean, credentials: boolean): HttpBridgeError {
  const f = classifyReasonCode(rc, atConnect, credentials);
  return new HttpBridgeError(HTTP_STATUS[f.code], f.code, f.message, rc);
}

/** Authorization header -> MQTT credentials. Basic: user name + password; Bearer: the token as Password. */
export function credentialsOf(header: string | undefined): BridgeCredentials {
  if (header === undefined || header === "") return { key: "" };
  const space = header.indexOf(" ");
  const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
  const value = space < 0 ? "" : header.slice(space + 1).trim();
  if (scheme === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new HttpBridgeError(400, "bad_authorization", "Basic credentials must be user:password");
    return { key: header, username: decoded.slice(0, colon), password: Buffer.from(decoded.slice(colon + 1)) };
  }
  if (scheme === "bearer" && value !== "") return { key: header, password: Buffer.from(value) };
  throw new HttpBridgeError(400, "bad_authorization", "Authorization must be Basic or Bearer");
}

/** The topic (or filter) after /topics/, percent-decoded. */
function topicOf(url: RequestTarget): string {
  const raw = url.pathname.slice(TOPICS_PREFIX.length);
  // Nothing to decode without a "%" (the common case): skip decodeURIComponent's scan and copy.
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpBridgeError(400, "invalid_topic", "the topic is not valid percent-encoding");
  }
}

const PUBLISH_PARAMS = [
  "qos",
  "retain",
  "messageExpiry",
  "contentType",
  "responseTopic",
  "correlationData",
  "payloadFormat",
  "userProperty",
] as const;

/** The `mqtt-<kebab-case>` header of each parameter, computed once (not per request: 3 % of a profile). */
const HEADER_OF = new Map<string, string>(
  PUBLISH_PARAMS.map((n) => [n, `mqtt-${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`]),
);

/** A query parameter, else its `mqtt-<kebab-name>` header. */
function param(
  url: RequestTarget,
  req: http.IncomingMessage,
  name: (typeof PUBLISH_PARAMS)[number],
): string | undefined {
  // Without a query string, do not build URLSearchParams at all.
  if (url.search !== "") {
    const q = url.searchParams.get(name);
    if (q !== null) return q;
  }
  const h = req.headers[HEADER_OF.get(name)!];
  return Array.isArray(h) ? h[0] : h;
}

function intParam(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    throw new HttpBridgeError(
      400,
      "invalid_parameter",
      `${name} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

function boolParam(v: string | undefined, name: string): boolean {
  if (v === undefined || v === "false" || v === "0") return false;
  if (v === "true" || v === "1" || v === "") return true;
  throw new HttpBridgeError(400, "invalid_parameter", `${name} must be true or false, got ${JSON.stringify(v)}`);
}

interface PublishRequest {
  topic: string;
  qos: QoS;
  retain: boolean;
  properties: Properties | undefined;
}

function parsePublish(url: RequestTarget, req: http.IncomingMessage): PublishRequest {
  for (const k of url.search === "" ? [] : url.searchParams.keys()) {
    if (!(PUBLISH_PARAMS as readonly string[]).includes(k)) {
      throw new HttpBridgeError(
        400,
        "invalid_parameter",
        `unknown query parameter ${JSON.stringify(k)} (allowed: ${PUBLISH_PARAMS.join(", ")})`,
      );
    }
  }
  const topic = topicOf(url);
  try {
    validateTopicName(topic);
  } catch (err) {
    throw new HttpBridgeError(
      400,
      "invalid_topic",
      `invalid topic ${JSON.stringify(topic)}: ${(err as Error).message}`,
    );
  }
  const qos = (intParam(param(url, req, "qos"), "qos", 0, 2) ?? 1) as QoS;
  const retain = boolParam(param(url, req, "retain"), "retain");
  const props: Properties = {};
  const expiry = intParam(param(url, req, "messageExpiry"), "messageExpiry", 0, 0xffffffff);
  if (expiry !== undefined) props.messageExpiryInterval = expiry;
  const format = intParam(param(url, req, "payloadFormat"), "payloadFormat", 0, 1);
  if (format !== undefined) props.payloadFormatIndicator = format;
  const contentType = param(url, req, "contentType") ?? req.headers["content-type"];
  if (contentType !== undefined && contentType !== "") props.contentType = contentType;
  const responseTopic = param(url, req, "responseTopic");
  if (responseTopic !== undefined) {
    try {
      validateTopicName(responseTopic);
    } catch (err) {
      throw new HttpBridgeError(400, "invalid_parameter", `responseTopic: ${(err as Error).message}`);
    }
    props.responseTopic = responseTopic;
  }
  const correlation = param(url, req, "correlationData");
  if (correlation !== undefined) props.correlationData = Buffer.from(correlation);
  const users: UserProperty[] = [];
  const fromQuery = url.search === "" ? [] : url.searchParams.getAll("userProperty");
  const header = req.headers["mqtt-user-property"];
  const fromHeader =
    header === undefined ? [] : (Array.isArray(header) ? header : [header]).flatMap((h) => h.split(","));
  for (const up of [...fromQuery, ...fromHeader]) {
    const eq = up.indexOf("=");
    if (eq <= 0)
      throw new HttpBridgeError(400, "invalid_parameter", `userProperty must be name=value, got ${JSON.stringify(up)}`);
    users.push([up.slice(0, eq).trim(), up.slice(eq + 1).trim()]);
  }
  if (users.length > 0) props.userProperties = users;
  return { topic, qos, retain, properties: Object.keys(props).length > 0 ? props : undefined };
}

/** Reads the body, refusing (413) beyond `max` bytes without buffering them. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) {
    return Promise.reject(
      new HttpBridgeError(413, "payload_too_large", `body of ${declared} bytes exceeds the limit of ${max}`),
    );
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners("data");
        req.resume();
        reject(new HttpBridgeError(413, "payload_too_large", `body exceeds the limit of ${max} bytes`));
        return;
      }
      parts.push(c);
    });
    req.once("end", () => resolve(Buffer.concat(parts, size)));
    req.once("error", reject);
  });
}

/** Adds the /topics/ routes to `web`. Returns a close() that disconnects pooled and streaming clients. */
export function attachHttpBridge(
  web: WebServer,
  broker: ConnectionAcceptor,
  opts: HttpBridgeOptions,
  logger: Logger,
  clock: Clock,
): { close(): void } {
  const pool = new PublisherPool(broker, opts.kind, clock);
  const streams = new Set<LoopbackClient>();

  const fail = (res: http.ServerResponse, err: unknown, creds: BridgeCredentials | undefined): void => {
    let e: HttpBridgeError;
    if (err instanceof HttpBridgeError) e = err;
    else if (err instanceof BridgeMqttError) {
      e = fromReasonCode(err.reasonCode, err.stage === "connect", creds !== undefined && creds.key !== "");
    } else {
      logger.error({ err }, "http bridge: unexpected error");
      e = new HttpBridgeError(500, "internal", "internal error");
    }
    const headers = e.status === 401 ? { "www-authenticate": 'Basic realm="wharf", Bearer' } : {};
    sendJson(
      res,
      e.status,
      {
        error: {
          code: e.code,
          message: e.message,
          ...(e.reasonCode !== undefined ? { reasonCode: e.reasonCode } : {}),
        },
      },
      headers,
    );
  };

  async function publish(req: http.IncomingMessage, res: http.ServerResponse, url: RequestTarget): Promise<void> {
    let creds: BridgeCredentials | undefined;
    try {
      const p = parsePublish(url, req);
      creds = credentialsOf(req.headers.authorization);
      const body = await readBody(req, opts.maxBodySize);
      // The address string only when the pool connects a client (a string per request was measurable at 20k/s).
      const remote = (): string => `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`;
      await pool.with(creds, remote, (c) => c.publish(p.topic, body, p.qos, p.retain, p.properties));
      sendJson(res, p.qos === 0 ? 202 : 200, { topic: p.topic, qos: p.qos, retain: p.retain, bytes: body.length });
    } catch (err) {
      fail(res, err, creds);
    }
  }

  async function subscribe(req: http.IncomingMessage, res: http.ServerResponse, url: RequestTarget): Promise<void> {
    let creds: BridgeCredentials | undefined;
    try {
      const filter = topicOf(url);
      const isQueue = filter.startsWith(QUEUE_PREFIX);
      const allowed = isQueue ? ["qos", "group", "offset", "lastEventId"] : ["qos"];
      for (const k of url.searchParams.keys()) {
        if (!allowed.includes(k))
          throw new HttpBridgeError(
            400,
            "invalid_parameter",
            `unknown query parameter ${JSON.stringify(k)} (allowed: ${allowed.join(", ")})`,
          );
      }
      try {
        validateTopicFilter(filter);
      } catch (err) {
        throw new HttpBridgeError(
          400,
          "invalid_topic",
          `invalid topic filter ${JSON.stringify(filter)}: ${(err as Error).message}`,
        );
      }
      const subProps = isQueue ? queueConsumer(url, req) : undefined;
      const qos = (intParam(url.searchParams.get("qos") ?? undefined, "qos", 0, 2) ?? 0) as QoS;
      creds = credentialsOf(req.headers.authorization);
      let seq = 0;
      let started = false;
      const pending: PublishPacket[] = [];
      const write = (m: PublishPacket): void => {
        seq++;
        // Queue deliveries: the event id is the message id, which Last-Event-ID resumes after.
        const messageId = isQueue ? m.properties?.userProperties?.find((u) => u[0] === "message-id")?.[1] : undefined;
        const data = messageJson(m, messageId !== undefined ? { messageId } : undefined);
        res.write(`id: ${messageId ?? seq}\nevent: message\ndata: ${data}\n\n`);
      };
      const client = await LoopbackClient.connect(broker, {
        kind: opts.kind,
        remoteAddress: `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? 0}`,
        keepAlive: 0,
        ...(creds.username !== undefined ? { username: creds.username } : {}),
        ...(creds.password !== undefined ? { password: creds.password } : {}),
        onMessage: (m) => (started ? write(m) : pending.push(m)),
        onClose: () => res.end(),
        writable: () => res.writableLength < SSE_HIGH_WATER,
      });
      streams.add(client);
      req.socket.once("close", () => {
        streams.delete(client);
        client.disconnect();
      });
      try {
        await client.subscribe(filter, qos, subProps);
      } catch (err) {
        client.disconnect();
        throw err;
      }
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      res.write(": subscribed\n\n");
      started = true;
      for (const m of pending) write(m); // retained messages that came with the SUBACK
      res.on("drain", () => client.drained());
      const beat = (): void => {
        if (client.closed || res.destroyed) return;
        res.write(": ping\n\n");
        clock.setTimeout(beat, SSE_HEARTBEAT_MS);
      };
      clock.setTimeout(beat, SSE_HEARTBEAT_MS);
    } catch (err) {
      fail(res, err, creds);
    }
  }

  web.routes.push((req, res) => {
    const url = requestTarget(req.url ?? "/");
    if (!url.pathname.startsWith(TOPICS_PREFIX)) return false;
    if (req.method === "POST" || req.method === "PUT") void publish(req, res, url);
    else if (req.method === "GET") void subscribe(req, res, url);
    else
      sendJson(
        res,
        405,
        { error: { code: "method_not_allowed", message: "use POST (publish) or GET (subscribe)" } },
        { allow: "GET, POST, PUT" },
      );
    return true;
  });

  return {
    close() {
      pool.close();
      for (const c of streams) c.disconnect();
      streams.clear();
    },
  };
}

const QUEUE_PREFIX = "$queue/";

/**
 * The SUBSCRIBE user properties of an SSE consumer of `$queue/<name>`. With `group`: a member of that consumer group
 * (competing with its other consumers; Last-Event-ID is ignored: the group's committed offset is where it resumes).
 * Without: an ephemeral group of its own (dropped when the stream ends) reading from `offset` (default `latest`),
 * or right after the message id in Last-Event-ID (header, or `lastEventId` for a first connection) — the resume.
 */
function queueConsumer(url: RequestTarget, req: http.IncomingMessage): Properties {
  const group = url.searchParams.get("group");
  if (group !== null) return { userProperties: [["consumer-group", group]] };
  const header = req.headers["last-event-id"];
  const last = (Array.isArray(header) ? header[0] : header) ?? url.searchParams.get("lastEventId") ?? undefined;
  let start = url.searchParams.get("offset") ?? "latest";
  if (last !== undefined && last !== "") {
    const m = /^(\d{1,15})(?:-\d{1,15})?$/.exec(last);
    if (m === null) {
      throw new HttpBridgeError(
        400,
        "invalid_parameter",
        `Last-Event-ID must be a message id like 42-1700000000000, got ${JSON.stringify(last)}`,
      );
    }
    start = String(Number(m[1]) + 1);
  }
  return {
    userProperties: [
      ["consumer-group", `${EPHEMERAL_GROUP_PREFIX}sse-${randomUUID()}`],
      ["stream-offset", start],
    ],
  };
}
