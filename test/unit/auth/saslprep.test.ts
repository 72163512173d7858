// SASLprep (RFC 4013) examples of section 3, plus the prohibited classes this minimal profile enforces.
import { test } from "node:test";
import assert from "node:assert/strict";
import { saslPrep } from "../../../src/broker/auth/index.ts";
import { decodeSaslName } from "../../../src/broker/auth/scram-messages.ts";

test("RFC 4013 §3 examples", () => {
  assert.equal(saslPrep("I\u00ADX"), "IX"); // soft hyphen mapped to nothing
  assert.equal(saslPrep("user"), "user");
  assert.equal(saslPrep("USER"), "USER"); // no case folding
  assert.equal(saslPrep("\u00AA"), "a"); // NFKC
  assert.equal(saslPrep("\u2168"), "IX"); // NFKC
  assert.equal(saslPrep("\u0007"), undefined); // prohibited control
});

test("non-ASCII spaces map to U+0020; prohibited and empty output is refused", () => {
  assert.equal(saslPrep("a\u00A0b\u3000c"), "a b c");
  for (const bad of [
    "",
    "\u00AD",
    "a\u0000",
    "a\u007F",
    "a\u0085",
    "a\uE000",
    "a\uFFFE",
    "a\uD800",
    "a\u202E",
    "a\u{E0041}",
  ]) {
    assert.equal(saslPrep(bad), undefined, JSON.stringify(bad));
  }
});

test("saslname decoding (RFC 5802 §5.1): =2C and =3D only", () => {
  assert.equal(decodeSaslName("a=2Cb=3Dc"), "a,b=c");
  assert.equal(decodeSaslName("=3D2C"), "=2C");
  assert.equal(decodeSaslName("a=2c"), undefined, "escapes are upper case");
  assert.equal(decodeSaslName("a=b"), undefined);
  assert.equal(decodeSaslName("a,b"), undefined);
  assert.equal(decodeSaslName(""), undefined);
});
