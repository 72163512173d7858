// The `listeners:` section: one entry per network listener. Common keys (type, host, port, limits) plus one
// section per family of types: `tls` (tls, wss), `ws` (ws, wss). A section given to a type that does not use it,
// or missing where required, is an error naming the key. The port defaults per type (1883, 8883, 8080, 8443, ...).
import { CERT_USERNAME_SOURCES, TLS_MIN_VERSIONS } from "../../transport/tls/context.ts";
import { array, bool, int, object, oneOf, optional, refine, required, str, isPlainObject } from "./schema.ts";
import type { ConfigIssue, Infer, ObjectSchema, Shape } from "./schema.ts";

/** The protocol maximum: 256 MB remaining length + 5-byte fixed header. */
import { MAX_PACKET_SIZE, MAX_UINT16 as U16 } from "../../util/index.ts";
export { MAX_PACKET_SIZE };

export const LISTENER_TYPES = ["tcp", "tls", "ws", "wss", "http", "coap"] as const;
export type ListenerType = (typeof LISTENER_TYPES)[number];

/** Default port of each type (the IANA / customary ones). */
export const DEFAULT_PORTS: Record<ListenerType, number> = {
  tcp: 1883,
  tls: 8883,
  ws: 8083,
  wss: 8084,
  http: 8080,
  coap: 5683,
};

/** The `ws` section's defaults (the section may be left out). */
export const WS_DEFAULTS = { path: "/mqtt", origins: [] as string[] };

const wsSchema = object({
  path: str({
    default: WS_DEFAULTS.path,
    check: (p) => (/^\/[^?#\s]*$/.test(p) ? undefined : "a URL path starting with /"),
  }),
  /** Allowed Origin header values; empty = any. */
  origins: array(
    str({
      default: "",
      check: (o) => (/^https?:\/\/[^/\s]+$/.test(o) ? undefined : "an origin like https://app.example.com"),
    }),
    [],
  ),
});

const tlsSchema = object({
  cert: required(str({ default: "" })),
  key: required(str({ default: "" })),
  ca: optional(str({ default: "" })),
  passphrase: optional(str({ default: "" })),
  minVersion: oneOf(TLS_MIN_VERSIONS, "TLSv1.2"),
  ciphers: optional(str({ default: "" })),
  requireClientCert: bool(false),
  usernameFrom: oneOf(CERT_USERNAME_SOURCES, "none"),
});

/** Which types take which section (true = required). */
const SECTIONS: Record<string, Partial<Record<ListenerType, boolean>>> = {
  tls: { tls: true, wss: true, http: false },
  ws: { ws: false, wss: false },
};

const listenerShape = {
  type: oneOf(LISTENER_TYPES, "tcp"),
  host: str({ default: "0.0.0.0" }),
  /** Default: DEFAULT_PORTS[type]. */
  port: int({ min: 0, max: U16, default: 1883 }),
  /** 0 = unlimited. */
  maxConnections: int({ min: 0, default: 0 }),
  /** 0 = the broker's mqtt.maxPacketSize. */
  maxPacketSize: int({ min: 0, max: MAX_PACKET_SIZE, default: 0 }),
  /**
   * tcp only: hold connections on net.Socket instead of libuv's TCP handles (src/transport/tcp/raw.ts). An escape
   * hatch should the raw path misbehave on some Node version; it costs ~40 µs of CPU per connect.
   */
  nodeSockets: bool(false),
  tls: optional(tlsSchema),
  ws: optional(wsSchema),
} satisfies Shape;

const base = object(listenerShape);

/** One listener: the object schema plus the per-type port default and section rules. */
export const listenerSchema: ObjectSchema<typeof listenerShape> = {
  ...base,
  parse(input: unknown, path: string, issues: ConfigIssue[]) {
    const value = base.parse(input, path, issues);
    const given = isPlainObject(input) ? input : {};
    if (given.port === undefined) value.port = DEFAULT_PORTS[value.type];
    if (given.nodeSockets !== undefined && value.type !== "tcp") {
      const at = path === "" ? "nodeSockets" : `${path}.nodeSockets`;
      issues.push({ path: at, message: `only used by type tcp, not ${value.type}`, value: given.nodeSockets });
    }
    for (const [section, types] of Object.entries(SECTIONS)) {
      const need = types[value.type];
      const has = given[section] !== undefined;
      const at = path === "" ? section : `${path}.${section}`;
      if (need === true && !has) {
        issues.push({ path: at, message: `missing required section for type ${value.type}`, value: undefined });
      } else if (need === undefined && has) {
        const users = Object.keys(types).join(", ");
        issues.push({ path: at, message: `not used by type ${value.type} (only by ${users})`, value: given[section] });
      }
    }
    return value;
  },
};

/**
 * A ws/wss listener and an http listener may share one address (one HTTP server); a coap listener (UDP) may share
 * a port with any TCP-based one; nothing else may.
 */
function canShare(a: ListenerConfig, b: ListenerConfig): boolean {
  if ((a.type === "coap") !== (b.type === "coap")) return true;
  const web = (x: ListenerConfig, y: ListenerConfig): boolean =>
    (x.type === "ws" || x.type === "wss") && y.type === "http" && y.tls === undefined;
  return web(a, b) || web(b, a);
}

/** The listener list: the file needs at least one; an embedded broker (createBroker) may have none. */
export function listenersOf(defaultValue: ListenerConfig[], minItems: number) {
  return refine(array(listenerSchema, defaultValue, { minItems }), (listeners, path, issues) => {
    // Two listeners on the same fixed address can never both start; say so before trying.
    const seen = new Map<string, number[]>();
    listeners.forEach((l, i) => {
      if (l.port === 0) return;
      const key = `${l.host}:${l.port}`;
      const before = seen.get(key) ?? [];
      const clash = before.find((j) => before.length > 1 || !canShare(listeners[j]!, l));
      if (clash !== undefined) {
        const why =
          l.type === "http" && l.tls !== undefined
            ? " (an http listener sharing a ws/wss port takes its TLS from that listener: leave tls out)"
            : "";
        issues.push({
          path: `${path}[${i}].port`,
          message: `same host and port as ${path}[${clash}]${why}`,
          value: l.port,
        });
      }
      seen.set(key, [...before, i]);
    });
  });
}

export const listenersSchema = listenersOf([listenerSchema.defaultValue], 1);

export type ListenerConfig = Infer<typeof listenerSchema>;
export type TlsConfig = Infer<typeof tlsSchema>;
export type WsConfig = Infer<typeof wsSchema>;
