// Bounded reader over one packet body: every read checks the packet's end, so a field that runs
// past the Remaining Length is a Malformed Packet rather than a read into the next packet.
import { CodecError } from "./errors.ts";
import { BOOLEAN_BYTE_PROPERTIES, PROPERTY_BY_ID, PropertyWireType } from "./properties.ts";
import type { PropertyContext } from "./properties.ts";
import { PacketType } from "./types.ts";
import type { Properties, UserProperty } from "./types.ts";
import { isUtf8 } from "node:buffer";
import { internAscii, utf8Slice } from "./utf8.ts";

const EMPTY = Buffer.alloc(0);

/** Validates non-ASCII bytes as UTF-8 [MQTT-1.5.4-1] (U+0000 was already excluded) and decodes them. */
function nonAscii(buf: Buffer, s: number, e: number): string {
  if (!isUtf8(buf.subarray(s, e))) {
    throw CodecError.malformed("ill-formed UTF-8 string (invalid, overlong or surrogate)", "[MQTT-1.5.4-1]");
  }
  return utf8Slice(buf, s, e);
}

function truncated(): CodecError {
  return CodecError.malformed("packet shorter than its fields: remaining length mismatch");
}

export class Reader {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;

  reset(buf: Buffer, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw truncated();
    return this.buf[this.pos++]!;
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) throw truncated();
    this.pos = p + 2;
    return (this.buf[p]! << 8) | this.buf[p + 1]!;
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) throw truncated();
    this.pos = p + 4;
    const b = this.buf;
    return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /** Variable Byte Integer: at most 4 bytes and minimally encoded [MQTT-1.5.5-1]. */
  varint(): number {
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8();
      value += (b & 0x7f) * mult;
      if (b < 0x80) {
        if (b === 0 && i > 0)
          throw CodecError.malformed("variable byte integer not minimally encoded", "[MQTT-1.5.5-1]");
        return value;
      }
      mult *= 128;
    }
    throw CodecError.malformed("variable byte integer longer than 4 bytes", "[MQTT-1.5.5-1]");
  }

  /** UTF-8 Encoded String [MQTT-1.5.4]. */
  str(): string {
    const len = this.u16();
    const s = this.pos;
    const e = s + len;
    if (e > this.end) throw truncated();
    this.pos = e;
    const buf = this.buf;
    let or = 0;
    let h = 0;
    for (let i = s; i < e; i++) {
      const c = buf[i]!;
      if (c === 0) throw CodecError.malformed("U+0000 in a UTF-8 string", "[MQTT-1.5.4-2]");
      or |= c;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (or < 0x80) return internAscii(buf, s, e, h);
    return nonAscii(buf, s, e);
  }

  /**
   * A Topic Name: a UTF-8 string without wildcard characters [MQTT-3.3.2-2]. The wildcard test
   * rides on the UTF-8 scan ('+' and '#' bytes never occur inside multi-byte sequences).
   */
  topicName(): string {
    const len = this.u16();
    const s = this.pos;
    const e = s + len;
    if (e > this.end) throw truncated();
    this.pos = e;
    const buf = this.buf;
    let or = 0;
    let h = 0;
    for (let i = s; i < e; i++) {
      const c = buf[i]!;
      if (c === 0x2b || c === 0x23) throw CodecError.topicName("wildcard in topic name", "[MQTT-3.3.2-2]");
      if (c === 0) throw CodecError.malformed("U+0000 in a UTF-8 string", "[MQTT-1.5.4-2]");
      or |= c;
      h = (Math.imul(h, 31) + c) | 0;
    }
    if (or < 0x80) return internAscii(buf, s, e, h);
    return nonAscii(buf, s, e);
  }

  /** Binary Data: two-byte length then bytes; a zero-copy view of the input [MQTT-1.5.6]. */
  bin(): Buffer {
    const len = this.u16();
    const s = this.pos;
    const e = s + len;
    if (e > this.end) throw truncated();
    this.pos = e;
    return this.buf.subarray(s, e);
  }

  /** The rest of the packet as a zero-copy view. */
  rest(): Buffer {
    const s = this.pos;
    this.pos = this.end;
    return this.buf.subarray(s, this.end);
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) throw CodecError.malformed(`${what}: ${this.end - this.pos} unexpected trailing bytes`);
  }

  /**
   * Property Length then properties [MQTT-2.2.2]. Identifiers not valid for `context` make the
   * packet malformed (2.2.2.2); a repeated non-repeatable property is a Protocol Error.
   * Returns undefined when there are none.
   */
  properties(context: PropertyContext): Properties | undefined {
    const len = this.varint();
    if (len === 0) return undefined;
    const end = this.pos + len;
    if (end > this.end) throw CodecError.malformed("property length exceeds the packet");
    const outerEnd = this.end;
    this.end = end;
    const props: Record<string, unknown> = {};
    while (this.pos < end) {
      const id = this.varint();
      const d = id < PROPERTY_BY_ID.length ? PROPERTY_BY_ID[id] : undefined;
      if (d === undefined) throw CodecError.malformed(`unknown property identifier 0x${id.toString(16)}`);
      if ((d.mask & (1 << context)) === 0) {
        throw CodecError.malformed(`property ${d.name} is not allowed in ${contextName(context)}`);
      }
      if (id === 0x26) {
        // User Property, by far the most frequent: named access rather than the generic keyed path.
        const pair: UserProperty = [this.str(), this.str()];
        const list = (props as Properties).userProperties;
        if (list === undefined) (props as Properties).userProperties = [pair];
        else list.push(pair);
        continue;
      }
      const existing = props[d.name];
      if (
        existing !== undefined &&
        d.repeat !== "always" &&
        !(d.repeat === "publish" && context === PacketType.PUBLISH)
      ) {
        throw CodecError.protocol(`property ${d.name} included more than once`);
      }
      switch (d.type) {
        case PropertyWireType.Byte: {
          const v = this.u8();
          if (v > 1 && BOOLEAN_BYTE_PROPERTIES.has(id)) throw CodecError.protocol(`property ${d.name} must be 0 or 1`);
          props[d.name] = v;
          break;
        }
        case PropertyWireType.TwoByteInteger: {
          const v = this.u16();
          if (v === 0) {
            if (id === 0x23) throw CodecError.topicAlias("topic alias 0 is not permitted", "[MQTT-3.3.2-8]");
            if (id === 0x21) throw CodecError.protocol("receive maximum of 0", "(3.1.2.11.3)");
          }
          props[d.name] = v;
          break;
        }
        case PropertyWireType.FourByteInteger: {
          const v = this.u32();
          if (v === 0 && id === 0x27) throw CodecError.protocol("maximum packet size of 0", "(3.1.2.11.4)");
          props[d.name] = v;
          break;
        }
        case PropertyWireType.VariableByteInteger: {
          // Only Subscription Identifier has this type.
          const v = this.varint();
          if (v === 0) throw CodecError.protocol("subscription identifier of 0", "(3.8.2.1.2)");
          if (existing === undefined) props[d.name] = [v];
          else (existing as number[]).push(v);
          break;
        }
        case PropertyWireType.Utf8String: {
          const v = this.str();
          // A Response Topic is a Topic Name: non-empty, no wildcards [MQTT-3.3.2-14] [MQTT-4.7.3-1].
          if (id === 0x08 && (v.length === 0 || v.includes("+") || v.includes("#"))) {
            throw CodecError.protocol("response topic must be a topic name without wildcards", "[MQTT-3.3.2-14]");
          }
          props[d.name] = v;
          break;
        }
        case PropertyWireType.BinaryData:
          props[d.name] = this.bin();
          break;
        case PropertyWireType.Utf8StringPair:
          break; // handled above (User Property is the only pair property)
      }
    }
    this.end = outerEnd;
    return props;
  }
}

const CONTEXT_NAMES = [
  "reserved",
  "CONNECT",
  "CONNACK",
  "PUBLISH",
  "PUBACK",
  "PUBREC",
  "PUBREL",
  "PUBCOMP",
  "SUBSCRIBE",
  "SUBACK",
  "UNSUBSCRIBE",
  "UNSUBACK",
  "PINGREQ",
  "PINGRESP",
  "DISCONNECT",
  "AUTH",
  "Will Properties",
];

export function contextName(context: PropertyContext): string {
  return CONTEXT_NAMES[context] ?? "unknown";
}
