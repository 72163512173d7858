// One delivered message as JSON, for bridge clients that need the topic with the payload (SSE events, CoAP
// observers of a filter with format=json): the payload as UTF-8 text, or base64 when it is not valid UTF-8.
import { isUtf8 } from "node:buffer";
import type { PublishPacket } from "../../codec/index.ts";

export function messageJson(m: PublishPacket, extra?: Record<string, string>): string {
  const utf8 = isUtf8(m.payload);
  return JSON.stringify({
    topic: m.topic,
    payload: utf8 ? m.payload.toString("utf8") : m.payload.toString("base64"),
    encoding: utf8 ? "utf8" : "base64",
    qos: m.qos,
    retain: m.retain,
    ...(m.properties?.contentType !== undefined ? { contentType: m.properties.contentType } : {}),
    ...extra,
  });
}
