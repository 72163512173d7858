// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header) carried as an MQTT 5.0
// user property: parse the publisher's, write the broker's. Version 00 layout; a later version is read by its
// first four fields, as the spec asks.
import { TraceFlags, type SpanContext } from "@opentelemetry/api";
import type { Properties } from "../codec/index.ts";
import { TRACEPARENT_VALUE_AT } from "./light-span.ts";

export const TRACEPARENT = "traceparent";

const RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The remote span context of a `traceparent` value; undefined when malformed (ignored, as the spec says). */
export function parseTraceparent(value: string): SpanContext | undefined {
  const m = RE.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
}

export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-0${(sc.traceFlags & TraceFlags.SAMPLED).toString(16)}`;
}

/** The first `traceparent` user property (5.0), if any. */
export function traceparentOf(properties: Properties | undefined): string | undefined {
  const ups = properties?.userProperties;
  if (ups === undefined) return undefined;
  for (const [k, v] of ups) if (k === TRACEPARENT) return v;
  return undefined;
}

/**
 * The forwarded properties of a root trace whose PUBLISH had none: the `traceparent` user property alone, its value
 * read from `encoded` (light-span.ts traceparentPropertyOfIds), the same property encoded, which the message's
 * subscribers' copies are written from (MessageTrace.encodedProperties).
 */
export function traceparentProperties(encoded: Buffer): Properties {
  return { userProperties: [[TRACEPARENT, encoded.toString("latin1", TRACEPARENT_VALUE_AT)]] };
}

/**
 * `properties` with its `traceparent` user property set to `value`; the others (a `tracestate` included, which the
 * broker does not change) are kept in order.
 */
export function withTraceparent(properties: Properties | undefined, value: string): Properties {
  // A root trace's PUBLISH has no properties (fan-in's publishers send none): no copy of nothing to make.
  if (properties === undefined) return { userProperties: [[TRACEPARENT, value]] };
  const ups = properties.userProperties ?? [];
  const out: [string, string][] = [];
  let replaced = false;
  for (const [k, v] of ups) {
    if (k !== TRACEPARENT) out.push([k, v]);
    else if (!replaced) {
      out.push([TRACEPARENT, value]);
      replaced = true;
    }
  }
  if (!replaced) out.push([TRACEPARENT, value]);
  return { ...properties, userProperties: out };
}
