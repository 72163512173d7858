// Every malformed-packet and protocol-error rule the codec enforces, each named by its spec
// statement, asserting the CodecError code, the reason code the server must send, and the ref.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CodecError, CodecErrorCode, Decoder, encode } from "../../../src/codec/index.ts";
import type { CodecErrorCodeValue, Packet, ProtocolVersion } from "../../../src/codec/index.ts";

const M = CodecErrorCode.MalformedPacket;
const P = CodecErrorCode.ProtocolError;
const REASON: Record<CodecErrorCodeValue, number> = {
  [CodecErrorCode.MalformedPacket]: 0x81,
  [CodecErrorCode.ProtocolError]: 0x82,
  [CodecErrorCode.PacketTooLarge]: 0x95,
  [CodecErrorCode.UnsupportedProtocolVersion]: 0x84,
  [CodecErrorCode.TopicNameInvalid]: 0x90,
  [CodecErrorCode.TopicAliasInvalid]: 0x94,
  [CodecErrorCode.InvalidPacket]: -1, // the encoder's, never the decoder's
};

/** Fixed header byte + Remaining Length (computed) + body hex. */
function pkt(first: number, bodyHex: string): Buffer {
  const body = Buffer.from(bodyHex.replace(/\s+/g, ""), "hex");
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([first, body.length]), body]);
}

/** Two-byte length + UTF-8 of s, as hex. */
function str(s: string): string {
  const b = Buffer.from(s);
  return b.length.toString(16).padStart(4, "0") + b.toString("hex");
}

function decodeError(bytes: Buffer, version: ProtocolVersion | undefined): CodecError {
  const d = new Decoder({ protocolVersion: version });
  d.push(bytes);
  let err: unknown;
  try {
    while (d.next() !== undefined);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof CodecError, `expected a CodecError for ${bytes.toString("hex")}, got ${String(err)}`);
  // The decoder is dead afterwards and rethrows the same error.
  assert.throws(
    () => d.next(),
    (e) => e === err,
  );
  return err;
}

function expectError(
  bytes: Buffer,
  version: ProtocolVersion | undefined,
  code: CodecErrorCodeValue,
  specRef?: string,
): CodecError {
  const err = decodeError(bytes, version);
  assert.equal(err.code, code, err.message);
  assert.equal(err.reasonCode, REASON[code]);
  if (specRef !== undefined) assert.equal(err.specRef, specRef, err.message);
  return err;
}

function decodeOk(bytes: Buffer, version: ProtocolVersion | undefined): Packet {
  const d = new Decoder({ protocolVersion: version });
  d.push(bytes);
  const p = d.next();
  assert.ok(p !== undefined);
  return p;
}

const CONNECT4 = (flags: string, payload: string): Buffer => pkt(0x10, `${str("MQTT")} 04 ${flags} 003c ${payload}`);
const CONNECT5 = (flags: string, props: string, payload: string): Buffer =>
  pkt(0x10, `${str("MQTT")} 05 ${flags} 003c ${props} ${payload}`);
const PUB5 = (topic: string, props: string): Buffer =>
  pkt(0x30, `${str(topic)} ${(props.replace(/\s+/g, "").length / 2).toString(16).padStart(2, "0")} ${props} 6869`);

describe("codec validation: fixed header", () => {
  it("[MQTT-2.1.3-1] reserved flag bits of CONNACK/PUBACK/PINGREQ/DISCONNECT must be 0", () => {
    expectError(pkt(0x21, "0000"), 4, M, "[MQTT-2.2.2-1]");
    expectError(pkt(0x41, "000a"), 5, M, "[MQTT-2.1.3-1]");
    expectError(pkt(0xc8, ""), 5, M, "[MQTT-2.1.3-1]");
    expectError(pkt(0xe2, ""), 4, M);
    expectError(pkt(0x11, `${str("MQTT")} 04 02 003c ${str("c")}`), undefined, M, "[MQTT-2.1.3-1]");
  });

  it("[MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] PUBREL, SUBSCRIBE, UNSUBSCRIBE must have flags 0010", () => {
    expectError(pkt(0x60, "000a"), 4, M, "[MQTT-3.6.1-1]");
    expectError(pkt(0x80, `0001 ${str("a")} 00`), 4, M, "[MQTT-3.8.1-1]");
    expectError(pkt(0xa0, `0001 ${str("a")}`), 5, M, "[MQTT-3.10.1-1]");
    expectError(pkt(0x63, "000a"), 5, M, "[MQTT-3.6.1-1]");
    // MQTT 3.1 clients set DUP on retried PUBREL/SUBSCRIBE/UNSUBSCRIBE: accepted for level 3 only.
    assert.equal(decodeOk(pkt(0x6a, "000a"), 3).type, 6);
    expectError(pkt(0x6a, "000a"), 4, M, "[MQTT-3.6.1-1]");
  });

  it("reserved packet type 0, and AUTH (15) before 5.0, are malformed", () => {
    expectError(pkt(0x00, ""), 4, M);
    expectError(pkt(0xf0, ""), 4, M);
    assert.equal(decodeOk(pkt(0xf0, ""), 5).type, 15);
  });

  it("[MQTT-3.3.1-4] PUBLISH with QoS 3 is malformed", () => {
    expectError(pkt(0x36, `${str("a")} 000a`), 4, M, "[MQTT-3.3.1-4]");
    // Rejected from the first byte alone, before the body arrives.
    expectError(Buffer.from([0x36]), 5, M, "[MQTT-3.3.1-4]");
  });

  it("[MQTT-3.3.1-2] DUP set on a QoS 0 PUBLISH is malformed", () => {
    expectError(pkt(0x38, `${str("a")} 6869`), 4, M, "[MQTT-3.3.1-2]");
    expectError(pkt(0x39, `${str("a")} 00`), 5, M, "[MQTT-3.3.1-2]");
  });

  it("[MQTT-1.5.5-1] remaining length longer than 4 bytes is malformed", () => {
    expectError(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 4, M, "[MQTT-1.5.5-1]");
  });

  it("[MQTT-1.5.5-1] remaining length not in the minimum number of bytes is malformed", () => {
    expectError(Buffer.from([0xc0, 0x80, 0x00]), 4, M, "[MQTT-1.5.5-1]");
    expectError(Buffer.from([0x30, 0x85, 0x80, 0x00, 0, 1, 0x61, 0, 0]), 4, M, "[MQTT-1.5.5-1]");
  });

  it("[MQTT-3.1.0-1] before CONNECT, any other packet is a protocol error", () => {
    expectError(pkt(0xc0, ""), undefined, P, "[MQTT-3.1.0-1]");
    expectError(pkt(0x30, `${str("a")} 00`), undefined, P, "[MQTT-3.1.0-1]");
  });
});

describe("codec validation: remaining length mismatch", () => {
  it("packets shorter than their fields, or with trailing bytes, are malformed", () => {
    expectError(pkt(0x40, "00"), 4, M); // PUBACK needs 2 bytes
    expectError(pkt(0x40, "000a00"), 4, M); // 3.1.1 PUBACK is exactly 2 bytes
    expectError(pkt(0xc0, "00"), 4, M); // PINGREQ is empty
    expectError(pkt(0xd0, "00"), 5, M);
    expectError(pkt(0xe0, "00"), 4, M); // 3.1.1 DISCONNECT is empty
    expectError(pkt(0x20, "00"), 4, M); // CONNACK needs 2 bytes
    expectError(pkt(0x20, "0000"), 5, M); // 5.0 CONNACK needs the property length
    expectError(pkt(0xb0, "000200"), 4, M); // 3.1.1 UNSUBACK is exactly 2 bytes
    expectError(pkt(0x30, "0005 6162"), 4, M); // topic longer than the packet
    expectError(pkt(0x10, `${str("MQTT")} 04 02 003c ${str("c")} 00`), undefined, M); // trailing byte
    expectError(pkt(0x10, `${str("MQTT")} 04 c2 003c ${str("c")} ${str("u")}`), undefined, M); // password missing
    expectError(pkt(0x40, "000a 10 05 1f0001"), 5, M); // property length beyond the packet
    expectError(pkt(0x40, "000a 10 04 1f000261"), 5, M); // property value beyond the property length
  });
});

describe("codec validation: UTF-8 strings", () => {
  const badUtf8: [string, string][] = [
    ["invalid byte ff", "0001ff"],
    ["overlong encoding of '/' (c0 af)", "0002c0af"],
    ["overlong 3-byte encoding (e0 80 af)", "0003e080af"],
    ["UTF-16 surrogate U+D800 (ed a0 80)", "0003eda080"],
    ["truncated multi-byte sequence (e2 82)", "0002e282"],
    ["lone continuation byte (80)", "000180"],
    ["code point above U+10FFFF (f4 90 80 80)", "0004f4908080"],
  ];
  for (const [what, hex] of badUtf8) {
    it(`[MQTT-1.5.4-1] ill-formed UTF-8 in a topic name is malformed: ${what}`, () => {
      expectError(pkt(0x30, `${hex} 6869`), 4, M, "[MQTT-1.5.4-1]");
    });
  }

  it("[MQTT-1.5.4-1] ill-formed UTF-8 in client id, user name, topic filter and user property is malformed", () => {
    expectError(pkt(0x10, `${str("MQTT")} 04 02 003c 0002c0af`), undefined, M, "[MQTT-1.5.4-1]");
    expectError(pkt(0x10, `${str("MQTT")} 04 82 003c ${str("c")} 0003eda080`), undefined, M, "[MQTT-1.5.4-1]");
    expectError(pkt(0x82, `0001 0001ff 00`), 4, M, "[MQTT-1.5.4-1]");
    expectError(pkt(0xa2, `0001 00 0001ff`), 5, M, "[MQTT-1.5.4-1]");
    expectError(PUB5("a", `26 0001ff ${str("v")}`), 5, M, "[MQTT-1.5.4-1]");
  });

  it("[MQTT-1.5.4-2] U+0000 in a string is malformed", () => {
    expectError(pkt(0x30, `0003 610062 6869`), 4, M, "[MQTT-1.5.4-2]");
    expectError(pkt(0x10, `${str("MQTT")} 04 02 003c 000100`), undefined, M, "[MQTT-1.5.4-2]");
    expectError(PUB5("a", `03 000100`), 5, M, "[MQTT-1.5.4-2]");
  });

  it("valid multi-byte UTF-8 (2, 3 and 4 bytes) decodes", () => {
    const p = decodeOk(pkt(0x30, `${str("é/€/😀")} 00`), 4);
    assert.equal(p.type === 3 && p.topic, "é/€/😀");
  });
});

describe("codec validation: PUBLISH", () => {
  it("[MQTT-3.3.2-2] wildcards in a PUBLISH topic name: Topic Name invalid 0x90", () => {
    expectError(pkt(0x30, `${str("a/+")} 00`), 4, CodecErrorCode.TopicNameInvalid, "[MQTT-3.3.2-2]");
    expectError(pkt(0x30, `${str("a/#")} 00 00`), 5, CodecErrorCode.TopicNameInvalid, "[MQTT-3.3.2-2]");
  });

  it("[MQTT-4.7.3-1] empty topic name in 3.1.1: Topic Name invalid 0x90", () => {
    expectError(pkt(0x30, `0000 6869`), 4, CodecErrorCode.TopicNameInvalid, "[MQTT-4.7.3-1]");
  });

  it("(3.3.2.3.4) empty topic name without topic alias in 5.0 is a protocol error", () => {
    expectError(pkt(0x30, `0000 00 6869`), 5, P);
  });

  it("[MQTT-3.3.2-8] topic alias 0: Topic Alias invalid 0x94", () => {
    expectError(PUB5("a", "230000"), 5, CodecErrorCode.TopicAliasInvalid, "[MQTT-3.3.2-8]");
  });

  it("[MQTT-2.2.1-3] [MQTT-2.3.1-1] packet identifier 0 where one is required is a protocol error", () => {
    expectError(pkt(0x32, `${str("a")} 0000`), 4, P, "[MQTT-2.3.1-1]");
    expectError(pkt(0x34, `${str("a")} 0000 00`), 5, P, "[MQTT-2.2.1-3]");
    expectError(pkt(0x82, `0000 ${str("a")} 00`), 4, P, "[MQTT-2.3.1-1]");
    expectError(pkt(0xa2, `0000 00 ${str("a")}`), 5, P, "[MQTT-2.2.1-3]");
    expectError(pkt(0x40, "0000"), 5, P);
    expectError(pkt(0x62, "0000"), 4, P);
  });

  it("subscription identifier 0 in PUBLISH is a protocol error", () => {
    expectError(PUB5("a", "0b00"), 5, P);
  });

  it("several subscription identifiers are allowed in PUBLISH", () => {
    const p = decodeOk(PUB5("a", "0b01 0b02 0b7f"), 5);
    assert.deepEqual(p.type === 3 && p.properties?.subscriptionIdentifiers, [1, 2, 127]);
  });
});

describe("codec validation: properties", () => {
  it("duplicate properties are a protocol error (only User Property repeats in general)", () => {
    expectError(PUB5("a", "0101 0100"), 5, P);
    expectError(PUB5("a", "230001 230002"), 5, P);
    expectError(pkt(0x40, "000a 10 08 1f000161 1f000162"), 5, P);
    expectError(CONNECT5("02", "06 2100ff 2100ff", str("c")), undefined, P);
    const p = decodeOk(PUB5("a", `26 ${str("k")} ${str("1")} 26 ${str("k")} ${str("2")}`), 5);
    assert.deepEqual(p.type === 3 && p.properties?.userProperties, [
      ["k", "1"],
      ["k", "2"],
    ]);
  });

  it("subscription identifier more than once in SUBSCRIBE is a protocol error", () => {
    expectError(pkt(0x82, `0001 04 0b01 0b02 ${str("a")} 00`), 5, P);
  });

  it("properties not allowed in the packet are malformed (2.2.2.2)", () => {
    expectError(PUB5("a", "11 00000001"), 5, M); // Session Expiry Interval in PUBLISH
    expectError(pkt(0x40, "000a 00 02 2300"), 5, M); // Topic Alias in PUBACK
    expectError(CONNECT5("02", "02 0101", str("c")), undefined, M); // Payload Format Indicator in CONNECT
    expectError(CONNECT5("06", "00", `${str("c")} 05 11 00000001 ${str("w")} 0000`), undefined, M); // Session Expiry in will
    expectError(pkt(0xe0, "00 03 230001"), 5, M); // Topic Alias in DISCONNECT
  });

  it("unknown property identifiers are malformed", () => {
    expectError(PUB5("a", "7f00"), 5, M);
    expectError(PUB5("a", "0400"), 5, M);
  });

  it("[MQTT-1.5.5-1] a property identifier or subscription identifier over 4 bytes is malformed", () => {
    expectError(PUB5("a", "0b ffffffff01"), 5, M, "[MQTT-1.5.5-1]");
  });

  it("Receive Maximum 0 and Maximum Packet Size 0 are protocol errors", () => {
    expectError(CONNECT5("02", "03 210000", str("c")), undefined, P);
    expectError(CONNECT5("02", "05 2700000000", str("c")), undefined, P);
    expectError(pkt(0x20, "0000 03 210000"), 5, P);
  });

  it("byte properties with only 0/1 defined reject other values as protocol errors", () => {
    expectError(CONNECT5("02", "02 1702", str("c")), undefined, P); // Request Problem Information
    expectError(CONNECT5("02", "02 1902", str("c")), undefined, P); // Request Response Information
    expectError(pkt(0x20, "0000 02 2402"), 5, P); // Maximum QoS 2
    expectError(pkt(0x20, "0000 02 2502"), 5, P); // Retain Available
    expectError(PUB5("a", "0102"), 5, P); // Payload Format Indicator
  });

  it("Authentication Data without Authentication Method is a protocol error", () => {
    expectError(CONNECT5("02", "04 16000101", str("c")), undefined, P);
    expectError(pkt(0xf0, "18 04 16000101"), 5, P);
  });
});

describe("codec validation: CONNECT", () => {
  it("[MQTT-3.1.2-3] the reserved CONNECT flag must be 0 (malformed)", () => {
    expectError(CONNECT4("03", str("c")), undefined, M, "[MQTT-3.1.2-3]");
    expectError(CONNECT5("03", "00", str("c")), undefined, M, "[MQTT-3.1.2-3]");
  });

  it("[MQTT-3.1.2-11] [MQTT-3.1.2-13] will QoS must be 0 without the will flag", () => {
    expectError(CONNECT5("0a", "00", str("c")), undefined, M, "[MQTT-3.1.2-11]");
    expectError(CONNECT4("0a", str("c")), undefined, M, "[MQTT-3.1.2-13]");
  });

  it("[MQTT-3.1.2-13] [MQTT-3.1.2-15] will retain must be 0 without the will flag", () => {
    expectError(CONNECT5("22", "00", str("c")), undefined, M, "[MQTT-3.1.2-13]");
    expectError(CONNECT4("22", str("c")), undefined, M, "[MQTT-3.1.2-15]");
  });

  it("[MQTT-3.1.2-12] [MQTT-3.1.2-14] will QoS 3 is malformed", () => {
    expectError(CONNECT5("1e", "00", `${str("c")} 00 ${str("w")} 0000`), undefined, M, "[MQTT-3.1.2-12]");
    expectError(CONNECT4("1e", `${str("c")} ${str("w")} 0000`), undefined, M, "[MQTT-3.1.2-14]");
  });

  it("[MQTT-3.1.2-22] 3.1.1: password flag without user name flag is malformed; allowed in 5.0", () => {
    expectError(CONNECT4("42", `${str("c")} 0001 70`), undefined, M, "[MQTT-3.1.2-22]");
    const p = decodeOk(CONNECT5("42", "00", `${str("c")} 0001 70`), undefined);
    assert.deepEqual(p.type === 1 && p.password, Buffer.from("p"));
  });

  it("[MQTT-3.1.2-9] will topic and payload must be present when the will flag is set", () => {
    expectError(CONNECT4("06", str("c")), undefined, M);
  });

  it("will topic with wildcards or empty: Topic Name invalid 0x90", () => {
    expectError(CONNECT4("06", `${str("c")} ${str("w/#")} 0000`), undefined, CodecErrorCode.TopicNameInvalid);
    expectError(CONNECT4("06", `${str("c")} 0000 0000`), undefined, CodecErrorCode.TopicNameInvalid);
  });

  it("[MQTT-3.1.2-2] unsupported protocol level: UNSUPPORTED_PROTOCOL_VERSION 0x84", () => {
    const U = CodecErrorCode.UnsupportedProtocolVersion;
    expectError(pkt(0x10, `${str("MQTT")} 06 02 003c ${str("c")}`), undefined, U, "[MQTT-3.1.2-2]");
    expectError(pkt(0x10, `${str("MQTT")} 03 02 003c ${str("c")}`), undefined, U, "[MQTT-3.1.2-2]"); // MQTT + 3
    expectError(pkt(0x10, `${str("MQIsdp")} 04 02 003c ${str("c")}`), undefined, U, "[MQTT-3.1.2-2]"); // MQIsdp + 4
    expectError(pkt(0x10, `${str("MQIsdp")} 05 02 003c ${str("c")}`), undefined, U, "[MQTT-3.1.2-2]");
  });

  it("[MQTT-3.1.2-1] unknown protocol name: UNSUPPORTED_PROTOCOL_VERSION 0x84", () => {
    expectError(
      pkt(0x10, `${str("HTTP")} 04 02 003c ${str("c")}`),
      undefined,
      CodecErrorCode.UnsupportedProtocolVersion,
      "[MQTT-3.1.2-1]",
    );
  });

  it("the decoder learns the protocol level as soon as it is read, even if CONNECT then fails", () => {
    const d = new Decoder();
    d.push(CONNECT5("03", "00", str("c")));
    assert.throws(() => d.next(), CodecError);
    assert.equal(d.protocolVersion, 5);
    const d4 = new Decoder();
    d4.push(CONNECT4("02", str("c")));
    assert.equal(d4.next()?.type, 1);
    assert.equal(d4.protocolVersion, 4);
    d4.push(pkt(0xc0, ""));
    assert.equal(d4.next()?.type, 12);
  });
});

describe("codec validation: CONNACK", () => {
  it("[MQTT-3.2.2-1] CONNACK reserved acknowledge flags must be 0", () => {
    expectError(pkt(0x20, "0200"), 4, M, "[MQTT-3.2.2-1]");
    expectError(pkt(0x20, "8000 00"), 5, M, "[MQTT-3.2.2-1]");
  });

  it("[MQTT-3.2.2-4] [MQTT-3.2.2-6] session present with a non-zero code is a protocol error", () => {
    expectError(pkt(0x20, "0105"), 4, P, "[MQTT-3.2.2-4]");
    expectError(pkt(0x20, "0187 00"), 5, P, "[MQTT-3.2.2-6]");
  });

  it("(3.2.2.3) 3.1.1 CONNACK return codes above 5 are reserved", () => {
    expectError(pkt(0x20, "0006"), 4, P);
  });
});

describe("codec validation: reason codes", () => {
  it("[MQTT-3.2.2-8] [MQTT-3.4.2-1] … each 5.0 packet accepts only its own reason codes", () => {
    expectError(pkt(0x20, "0004 00"), 5, P, "[MQTT-3.2.2-8]");
    expectError(pkt(0x40, "000a 92"), 5, P, "[MQTT-3.4.2-1]");
    expectError(pkt(0x50, "000a 92"), 5, P, "[MQTT-3.5.2-1]");
    expectError(pkt(0x62, "000a 10"), 5, P, "[MQTT-3.6.2-1]");
    expectError(pkt(0x70, "000a 80"), 5, P, "[MQTT-3.7.2-1]");
    expectError(pkt(0x90, "0001 00 03"), 5, P, "[MQTT-3.9.3-2]");
    expectError(pkt(0xb0, "0001 00 01"), 5, P, "[MQTT-3.11.3-2]");
    expectError(pkt(0xe0, "05"), 5, P, "[MQTT-3.14.2-1]");
    expectError(pkt(0xf0, "01"), 5, P, "[MQTT-3.15.2-1]");
  });

  it("[MQTT-3.9.3-2] 3.1.1 SUBACK return codes other than 0, 1, 2, 0x80 are reserved", () => {
    expectError(pkt(0x90, "0001 03"), 4, P, "[MQTT-3.9.3-2]");
    expectError(pkt(0x90, "0001 81"), 3, P, "[MQTT-3.9.3-2]");
  });
});

describe("codec validation: SUBSCRIBE and UNSUBSCRIBE", () => {
  it("[MQTT-3.8.3-3] SUBSCRIBE with no topic filter is a protocol error (5.0: [MQTT-3.8.3-2])", () => {
    expectError(pkt(0x82, "0001"), 4, P, "[MQTT-3.8.3-3]");
    expectError(pkt(0x82, "0001 00"), 5, P, "[MQTT-3.8.3-2]");
  });

  it("[MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter is a protocol error", () => {
    expectError(pkt(0xa2, "0001"), 4, P, "[MQTT-3.10.3-2]");
    expectError(pkt(0xa2, "0001 00"), 5, P, "[MQTT-3.10.3-2]");
  });

  it("[MQTT-3.8.3-5] reserved subscription option bits must be 0 (malformed)", () => {
    expectError(pkt(0x82, `0001 00 ${str("a")} 40`), 5, M, "[MQTT-3.8.3-5]");
    expectError(pkt(0x82, `0001 00 ${str("a")} 80`), 5, M, "[MQTT-3.8.3-5]");
  });

  it("[MQTT-3-8.3-4] 3.1.1: reserved bits or QoS 3 in the requested QoS byte are malformed", () => {
    expectError(pkt(0x82, `0001 ${str("a")} 04`), 4, M, "[MQTT-3-8.3-4]");
    expectError(pkt(0x82, `0001 ${str("a")} 03`), 4, M, "[MQTT-3-8.3-4]");
  });

  it("(3.8.3.1) retain handling 3 and maximum QoS 3 are protocol errors", () => {
    expectError(pkt(0x82, `0001 00 ${str("a")} 30`), 5, P);
    expectError(pkt(0x82, `0001 00 ${str("a")} 03`), 5, P);
  });

  it("[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error", () => {
    expectError(pkt(0x82, `0001 00 ${str("$share/g/a")} 04`), 5, P, "[MQTT-3.8.3-4]");
  });

  it("subscription identifier 0 in SUBSCRIBE is a protocol error", () => {
    expectError(pkt(0x82, `0001 02 0b00 ${str("a")} 00`), 5, P);
  });
});

describe("codec validation: maximum packet size", () => {
  it("[MQTT-3.2.2-15] a fixed header announcing 256 MB with maxPacketSize 1 MB throws 0x95 after only the header", () => {
    const d = new Decoder({ protocolVersion: 4, maxPacketSize: 1024 * 1024 });
    const header = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]); // 268,435,455 bytes follow
    const before = process.memoryUsage().arrayBuffers;
    d.push(header);
    const err = (() => {
      try {
        d.next();
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof CodecError);
    assert.equal(err.code, CodecErrorCode.PacketTooLarge);
    assert.equal(err.reasonCode, 0x95);
    assert.ok(d.bufferedBytes <= 5, `bufferedBytes ${d.bufferedBytes}`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024, "no large allocation");
  });

  it("a partial fixed header that already implies a too-large packet is refused at once", () => {
    const d = new Decoder({ protocolVersion: 4, maxPacketSize: 100 });
    d.push(Buffer.from([0x30, 0x80, 0x80])); // at least 16,384 bytes follow
    assert.throws(
      () => d.next(),
      (e) => e instanceof CodecError && e.code === CodecErrorCode.PacketTooLarge,
    );
  });

  it("a packet exactly at maxPacketSize passes; one byte more is refused", () => {
    const p: Packet = { type: 3, dup: false, qos: 0, retain: false, topic: "t", payload: Buffer.alloc(50) };
    const bytes = encode(p, 4);
    assert.equal(decodeOk(bytes, 4).type, 3);
    const ok = new Decoder({ protocolVersion: 4, maxPacketSize: bytes.length });
    ok.push(bytes);
    assert.equal(ok.next()?.type, 3);
    const tooSmall = new Decoder({ protocolVersion: 4, maxPacketSize: bytes.length - 1 });
    tooSmall.push(bytes.subarray(0, 2));
    const err = decodeErrorFrom(tooSmall);
    assert.equal(err.code, CodecErrorCode.PacketTooLarge);
    assert.equal(err.reasonCode, 0x95);
  });

  it("maxPacketSize is settable after construction (e.g. after CONNECT)", () => {
    const d = new Decoder();
    d.push(encode({ type: 1, protocolName: "MQTT", protocolVersion: 5, clean: true, keepAlive: 0, clientId: "c" }, 5));
    assert.equal(d.next()?.type, 1);
    d.maxPacketSize = 10;
    d.push(encode({ type: 3, dup: false, qos: 0, retain: false, topic: "t", payload: Buffer.alloc(20) }, 5));
    assert.equal(decodeErrorFrom(d).code, CodecErrorCode.PacketTooLarge);
  });
});

function decodeErrorFrom(d: Decoder): CodecError {
  try {
    d.next();
  } catch (e) {
    assert.ok(e instanceof CodecError);
    return e;
  }
  assert.fail("expected a CodecError");
}
