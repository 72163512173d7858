// One error base class (src/util/errors.ts): every error class Wharf throws extends WharfError and carries a stable
// code named after its area, plus the MQTT reason code where one applies.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CodecError, CodecErrorCode, EncodeError } from "../../../src/codec/index.ts";
import { TopicError, TopicErrorCode } from "../../../src/topics/index.ts";
import { BrokerError, BrokerErrorCode } from "../../../src/broker/index.ts";
import { AuthError, AuthErrorCode } from "../../../src/broker/auth/index.ts";
import { StorageError, StorageErrorCode } from "../../../src/storage/index.ts";
import { CorruptRecordError } from "../../../src/storage/records.ts";
import { QueueError, QueueErrorCode } from "../../../src/queues/errors.ts";
import { ConfigError, ConfigErrorCode } from "../../../src/server/config/errors.ts";
import { PasswordFileError } from "../../../src/server/auth/password-file.ts";
import { TlsConfigError } from "../../../src/transport/tls/context.ts";
import { SemaphoreFullError, WharfError, isWharfError } from "../../../src/util/index.ts";

const AREAS = ["CODEC", "TOPIC", "BROKER", "AUTH", "STORAGE", "QUEUE", "CONFIG", "TLS", "UTIL"];

test("every error class extends WharfError with an area-prefixed UPPER_SNAKE code", () => {
  const errors: [WharfError, string][] = [
    [CodecError.malformed("bad"), "CodecError"],
    [new EncodeError("too long"), "EncodeError"],
    [TopicError.invalidName("bad"), "TopicError"],
    [new BrokerError(BrokerErrorCode.InvalidOption, "x"), "BrokerError"],
    [new AuthError(AuthErrorCode.InvalidMethod, "x"), "AuthError"],
    [new StorageError(StorageErrorCode.Corrupt, "x", { cause: new Error("inner") }), "StorageError"],
    [new CorruptRecordError("x"), "CorruptRecordError"],
    [new QueueError(QueueErrorCode.QueueFull, "x"), "QueueError"],
    [new ConfigError(ConfigErrorCode.Invalid, []), "ConfigError"],
    [new PasswordFileError("f", "x"), "PasswordFileError"],
    [new TlsConfigError("tls.cert", "x"), "TlsConfigError"],
    [new SemaphoreFullError(), "SemaphoreFullError"],
  ];
  for (const [err, name] of errors) {
    assert.ok(err instanceof WharfError, name);
    assert.ok(err instanceof Error, name);
    assert.ok(isWharfError(err), name);
    assert.equal(err.name, name);
    assert.match(err.code, /^[A-Z]+(_[A-Z0-9]+)+$/, `${name}: ${err.code}`);
    assert.ok(AREAS.includes(err.code.split("_")[0]!), `${name}: ${err.code} starts with its area`);
  }
  assert.ok(!isWharfError(new TypeError("bug")));
  assert.ok(!isWharfError(Object.assign(new Error("listen"), { code: "EADDRINUSE" })));
});

test("reason codes: the MQTT 5.0 code an error maps to, where one applies", () => {
  assert.equal(CodecError.malformed("bad").reasonCode, 0x81);
  assert.equal(CodecError.malformed("bad").code, CodecErrorCode.MalformedPacket);
  assert.equal(TopicError.invalidName("bad").reasonCode, 0x90);
  assert.equal(TopicError.invalidName("bad").code, TopicErrorCode.TopicNameInvalid);
  assert.equal(new StorageError(StorageErrorCode.WriteFailed, "disk full").reasonCode, 0x80);
  assert.equal(new QueueError(QueueErrorCode.QueueFull, "full").reasonCode, 0x97);
  assert.equal(new BrokerError(BrokerErrorCode.InvalidOption, "x").reasonCode, undefined);
  const inner = new Error("EIO");
  assert.equal(new StorageError(StorageErrorCode.Unreadable, "x", { cause: inner }).cause, inner);
});
