// What a CoAP request asks for: the topic from the Uri-Path after `ps`, the parameters from Uri-Query, the
// credentials. Read from the raw options (not the package's joined `url`), so a topic level containing `#`, `?`
// or `/`-free text of any kind arrives exactly as the client sent it.
import type { CoapPacket } from "coap";
import type { QoS } from "../../codec/index.ts";
import type { BridgeCredentials } from "../bridge/pool.ts";
import { CoapBridgeError } from "./blocks.ts";

export const PS_PATH = "ps";

/** Query parameters each method accepts. */
export const PUBLISH_PARAMS = ["qos", "retain", "u", "p"] as const;
export const GET_PARAMS = ["qos", "u", "p", "format"] as const;

export interface CoapTarget {
  /** The topic or filter: Uri-Path segments after `ps`, joined with `/`. */
  topic: string;
  query: Map<string, string>;
}

function text(v: unknown): string {
  return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

export function parseTarget(packet: CoapPacket, allowed: readonly string[]): CoapTarget {
  const path: string[] = [];
  const query = new Map<string, string>();
  for (const o of packet.options ?? []) {
    if (o.name === "Uri-Path") path.push(text(o.value));
    else if (o.name === "Uri-Query") {
      const q = text(o.value);
      const eq = q.indexOf("=");
      const k = eq < 0 ? q : q.slice(0, eq);
      if (!allowed.includes(k)) {
        throw new CoapBridgeError(
          "4.00",
          `unknown query parameter ${JSON.stringify(k)} (allowed: ${allowed.join(", ")})`,
        );
      }
      if (query.has(k)) throw new CoapBridgeError("4.00", `query parameter ${k} given twice`);
      query.set(k, eq < 0 ? "" : q.slice(eq + 1));
    }
  }
  if (path[0] !== PS_PATH) throw new CoapBridgeError("4.04", `no such resource: use /${PS_PATH}/<topic>`);
  const topic = path.slice(1).join("/");
  if (topic === "") throw new CoapBridgeError("4.00", `the topic is empty: use /${PS_PATH}/<topic>`);
  return { topic, query };
}

export function qosParam(q: Map<string, string>, dflt: QoS): QoS {
  const v = q.get("qos");
  if (v === undefined) return dflt;
  if (v !== "0" && v !== "1" && v !== "2")
    throw new CoapBridgeError("4.00", `qos must be 0, 1 or 2, got ${JSON.stringify(v)}`);
  return Number(v) as QoS;
}

export function boolParam(q: Map<string, string>, name: string): boolean {
  const v = q.get(name);
  if (v === undefined || v === "false" || v === "0") return false;
  if (v === "" || v === "true" || v === "1") return true;
  throw new CoapBridgeError("4.00", `${name} must be true or false, got ${JSON.stringify(v)}`);
}

/** `format=json`: each message as a JSON object with its topic (what a filter's observer needs); default raw. */
export function jsonFormat(q: Map<string, string>): boolean {
  const v = q.get("format");
  if (v === undefined || v === "raw") return false;
  if (v === "json") return true;
  throw new CoapBridgeError("4.00", `format must be raw or json, got ${JSON.stringify(v)}`);
}

/** `u` (user name) and `p` (password, or a token alone as password like HTTP Bearer); neither: anonymous. */
export function credentialsOf(q: Map<string, string>): BridgeCredentials {
  const u = q.get("u");
  const p = q.get("p");
  if (u === undefined && p === undefined) return { key: "" };
  return {
    key: JSON.stringify([u ?? null, p ?? null]),
    ...(u !== undefined ? { username: u } : {}),
    ...(p !== undefined ? { password: Buffer.from(p) } : {}),
  };
}

/** Content-Formats mapped to and from the MQTT 5.0 Content Type (RFC 7252 §12.3, the common ones). */
export const CONTENT_FORMATS: ReadonlySet<string> = new Set([
  "text/plain",
  "application/link-format",
  "application/xml",
  "application/octet-stream",
  "application/json",
  "application/cbor",
  "application/senml+json",
  "application/senml+cbor",
]);
