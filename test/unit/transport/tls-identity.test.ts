// Client-certificate identity mapping (usernameFrom) on Node's PeerCertificate shape.
import { test } from "node:test";
import assert from "node:assert/strict";
import type tls from "node:tls";
import { certificateUsername, parseSubjectAltName } from "../../../src/transport/tls/context.ts";

const cert = (subject: object, subjectaltname?: string) =>
  ({ subject, subjectaltname }) as unknown as tls.PeerCertificate;

test("parseSubjectAltName splits kinds and unquotes JSON-quoted values containing commas", () => {
  assert.deepEqual(parseSubjectAltName('DNS:a.example, email:"x, y@z", URI:spiffe://t/w'), [
    ["DNS", "a.example"],
    ["email", "x, y@z"],
    ["URI", "spiffe://t/w"],
  ]);
  assert.deepEqual(parseSubjectAltName(""), []);
});

test("certificateUsername: cn, the first SAN of a kind, undefined when absent", () => {
  const c = cert({ CN: "dev1" }, "DNS:d1.example, DNS:d2.example, URI:urn:dev:1");
  assert.equal(certificateUsername(c, "none"), undefined);
  assert.equal(certificateUsername(c, "cn"), "dev1");
  assert.equal(certificateUsername(c, "dns"), "d1.example");
  assert.equal(certificateUsername(c, "uri"), "urn:dev:1");
  assert.equal(certificateUsername(c, "email"), undefined);
  assert.equal(certificateUsername(cert({ CN: ["first", "second"] }), "cn"), "first");
  assert.equal(certificateUsername(cert({}), "cn"), undefined);
});
