import { test } from "node:test";
import assert from "node:assert/strict";
import {
  TopicError,
  hasWildcard,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedFilter,
  validateTopicFilter,
  validateTopicName,
} from "../../../src/topics/index.ts";

const long = (bytes: number, ch = "a"): string => ch.repeat(bytes);
// "€" is 3 UTF-8 bytes, "😀" (a surrogate pair) is 4.
const EURO = "\u20ac";
const EMOJI = "\u{1F600}";

function assertTopicError(fn: () => void, code: string, reasonCode: number, specRef: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TopicError, `expected TopicError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.reasonCode, reasonCode);
    assert.equal(err.specRef, specRef);
    assert.ok(err.message.includes(specRef), err.message);
    return true;
  });
}

const validNames = [
  "sport/tennis/player1",
  "sport/tennis/player1/ranking",
  "/",
  "/finance",
  "a//b",
  "a/",
  "$SYS/broker/load",
  "$share",
  " ",
  "sport tennis",
  `caf\u00e9/${EURO}/${EMOJI}`,
  long(65535),
  long(21845, EURO), // 65535 bytes
];

const invalidNames: [string, string, string][] = [
  ["", "[MQTT-4.7.3-1]", "empty"],
  ["sport/tennis/#", "[MQTT-4.7.1-1]", "'#' in a name"],
  ["sport/+/player1", "[MQTT-4.7.1-1]", "'+' in a name"],
  ["#", "[MQTT-4.7.1-1]", "'#' alone"],
  ["+", "[MQTT-4.7.1-1]", "'+' alone"],
  ["sport+", "[MQTT-4.7.1-1]", "'+' inside a level"],
  ["a\u0000b", "[MQTT-4.7.3-2]", "U+0000"],
  [long(65536), "[MQTT-4.7.3-3]", "65536 ASCII bytes"],
  [long(21845, EURO) + "a", "[MQTT-4.7.3-3]", "65536 bytes of multi-byte characters"],
  [long(16383, EMOJI) + "aaaa", "[MQTT-4.7.3-3]", "65536 bytes of surrogate pairs"],
  ["a/\ud800/b", "[MQTT-1.5.4-1]", "lone high surrogate"],
  ["a/\udc00", "[MQTT-1.5.4-1]", "lone low surrogate"],
  ["\ud800", "[MQTT-1.5.4-1]", "high surrogate at the end"],
];

for (const name of validNames) {
  test(`topic name ${JSON.stringify(name.slice(0, 40))} (${name.length} units) is valid [MQTT-4.7.3]`, () => {
    assert.equal(isValidTopicName(name), true);
    assert.doesNotThrow(() => validateTopicName(name));
  });
}

for (const [name, ref, why] of invalidNames) {
  test(`topic name invalid: ${why} ${ref}`, () => {
    assert.equal(isValidTopicName(name), false);
    assertTopicError(() => validateTopicName(name), "TOPIC_NAME_INVALID", 0x90, ref);
  });
}

const validFilters = [
  "sport/tennis/player1",
  "sport/tennis/player1/#",
  "sport/#",
  "#",
  "+",
  "+/+",
  "/+",
  "+/tennis/#",
  "sport/+/player1",
  "sport/+",
  "+/#",
  "/",
  "a//b",
  "//",
  "$SYS/#",
  "$SYS/+/load",
  "$share/g/#", // syntactically a plain filter; parseSharedFilter handles the $share form
  `${EURO}/+/${EMOJI}`,
  long(65535),
  long(65533) + "/#",
];

const invalidFilters: [string, string, string][] = [
  ["", "[MQTT-4.7.3-1]", "empty"],
  ["sport/tennis#", "[MQTT-4.7.1-2]", "'#' not alone in its level"],
  ["sport/#/ranking", "[MQTT-4.7.1-2]", "'#' not last"],
  ["#/", "[MQTT-4.7.1-2]", "'#' followed by a separator"],
  ["##", "[MQTT-4.7.1-2]", "'##'"],
  ["a#", "[MQTT-4.7.1-2]", "'#' after a character"],
  ["sport+", "[MQTT-4.7.1-3]", "'+' after a character"],
  ["+sport", "[MQTT-4.7.1-3]", "'+' before a character"],
  ["sport/+tennis/x", "[MQTT-4.7.1-3]", "'+' inside a level"],
  ["++", "[MQTT-4.7.1-3]", "'++'"],
  ["+#", "[MQTT-4.7.1-3]", "'+#'"],
  ["a/\u0000", "[MQTT-4.7.3-2]", "U+0000"],
  [long(65536), "[MQTT-4.7.3-3]", "65536 bytes"],
  [long(65534) + "/#", "[MQTT-4.7.3-3]", "65536 bytes ending in /#"],
  ["a/\udbff", "[MQTT-1.5.4-1]", "lone surrogate"],
];

for (const filter of validFilters) {
  test(`topic filter ${JSON.stringify(filter.slice(0, 40))} is valid [MQTT-4.7.1]`, () => {
    assert.equal(isValidTopicFilter(filter), true);
    assert.doesNotThrow(() => validateTopicFilter(filter));
  });
}

for (const [filter, ref, why] of invalidFilters) {
  test(`topic filter invalid: ${why} ${ref}`, () => {
    assert.equal(isValidTopicFilter(filter), false);
    assertTopicError(() => validateTopicFilter(filter), "TOPIC_FILTER_INVALID", 0x8f, ref);
  });
}

test("hasWildcard finds '+' and '#' levels only in filters that have them [MQTT-4.7.1]", () => {
  assert.equal(hasWildcard("a/b/c"), false);
  assert.equal(hasWildcard("$SYS/x"), false);
  assert.equal(hasWildcard("+"), true);
  assert.equal(hasWildcard("a/+/c"), true);
  assert.equal(hasWildcard("a/#"), true);
});

test("parseSharedFilter splits $share/<ShareName>/<filter> [MQTT-4.8.2]", () => {
  assert.deepEqual(parseSharedFilter("$share/consumer1/sport/tennis/+"), {
    group: "consumer1",
    filter: "sport/tennis/+",
  });
  assert.deepEqual(parseSharedFilter("$share/g/#"), { group: "g", filter: "#" });
  assert.deepEqual(parseSharedFilter("$share/g//a"), { group: "g", filter: "/a" });
  assert.deepEqual(parseSharedFilter("$share/g/$SYS/#"), { group: "g", filter: "$SYS/#" });
  assert.deepEqual(parseSharedFilter(`$share/${EURO}/+`), { group: EURO, filter: "+" });
});

test("parseSharedFilter returns undefined for filters that are not shared [MQTT-4.8.2]", () => {
  for (const f of ["sport/#", "$share", "$SHARE/g/a", "$shared/g/a", "a/$share/g/a", "#", "+/g/a"]) {
    assert.equal(parseSharedFilter(f), undefined, f);
  }
});

const invalidShared: [string, string, string][] = [
  ["$share/", "[MQTT-4.8.2-1]", "no ShareName"],
  ["$share//a", "[MQTT-4.8.2-1]", "empty ShareName"],
  ["$share/g", "[MQTT-4.8.2-2]", "no filter"],
  ["$share/g/", "[MQTT-4.8.2-2]", "empty filter"],
  ["$share/g+/a", "[MQTT-4.8.2-2]", "'+' in the ShareName"],
  ["$share/+/a", "[MQTT-4.8.2-2]", "ShareName '+'"],
  ["$share/#", "[MQTT-4.8.2-2]", "ShareName '#'"],
  ["$share/g#/a", "[MQTT-4.8.2-2]", "'#' in the ShareName"],
  ["$share/g/a#", "[MQTT-4.7.1-2]", "invalid '#' in the filter"],
  ["$share/g/#/a", "[MQTT-4.7.1-2]", "'#' not last in the filter"],
  ["$share/g/a+", "[MQTT-4.7.1-3]", "invalid '+' in the filter"],
  ["$share/g/a\u0000", "[MQTT-4.7.3-2]", "U+0000 in the filter"],
  ["$share/g\u0000/a", "[MQTT-4.7.3-2]", "U+0000 in the ShareName"],
  ["$share/g/" + long(65536 - 9), "[MQTT-4.7.3-3]", "whole string over 65535 bytes"],
];

for (const [filter, ref, why] of invalidShared) {
  test(`shared filter invalid: ${why} ${ref}`, () => {
    assertTopicError(() => parseSharedFilter(filter), "TOPIC_FILTER_INVALID", 0x8f, ref);
  });
}

test("TopicError is an Error with a stable name", () => {
  const err = TopicError.invalidName("bad", "[MQTT-4.7.3-1]");
  assert.ok(err instanceof Error);
  assert.equal(err.name, "TopicError");
  assert.equal(err.reasonCode, 0x90);
  assert.equal(TopicError.invalidFilter("bad").reasonCode, 0x8f);
  assert.equal(TopicError.invalidFilter("bad").specRef, undefined);
});
