import { test } from "node:test";
import assert from "node:assert/strict";
import { topicMatches } from "../../../src/topics/index.ts";

// [filter, topic, expected, why] — the examples of MQTT 5.0 §4.7.1 / §4.7.2 (and 3.1.1 §4.7), plus edge cases.
const vectors: [string, string, boolean, string][] = [
  // §4.7.1.2 multi-level wildcard
  ["sport/tennis/player1/#", "sport/tennis/player1", true, "[MQTT-4.7.1-2] '#' matches the parent level"],
  ["sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "[MQTT-4.7.1-2] one level below"],
  ["sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "[MQTT-4.7.1-2] two levels below"],
  ["sport/#", "sport", true, "[MQTT-4.7.1-2] 'sport/#' also matches the singular 'sport'"],
  ["sport/tennis/player1/#", "sport/tennis/player2", false, "[MQTT-4.7.1-2] sibling"],
  ["sport/tennis/player1/#", "sport/tennis", false, "[MQTT-4.7.1-2] grandparent"],
  ["#", "sport/tennis/player1", true, "[MQTT-4.7.1-2] '#' matches everything"],
  ["#", "/", true, "[MQTT-4.7.1-2] '#' matches '/'"],
  ["#", "a", true, "[MQTT-4.7.1-2] '#' matches one level"],
  ["sport/#", "sport/", true, "[MQTT-4.7.1-2] '#' matches an empty level"],
  ["sport/#", "sports", false, "[MQTT-4.7.1-2] prefix of a level is no match"],
  // §4.7.1.3 single-level wildcard
  ["sport/tennis/+", "sport/tennis/player1", true, "[MQTT-4.7.1-3] '+' one level"],
  ["sport/tennis/+", "sport/tennis/player2", true, "[MQTT-4.7.1-3] '+' one level"],
  ["sport/tennis/+", "sport/tennis/player1/ranking", false, "[MQTT-4.7.1-3] '+' is only one level"],
  ["sport/+", "sport", false, "[MQTT-4.7.1-3] 'sport/+' does not match 'sport'"],
  ["sport/+", "sport/", true, "[MQTT-4.7.1-3] 'sport/+' matches 'sport/'"],
  ["+", "sport", true, "[MQTT-4.7.1-3] '+' matches a one-level topic"],
  ["+", "/finance", false, "[MQTT-4.7.1-3] '+' does not match '/finance' (two levels)"],
  ["/+", "/finance", true, "[MQTT-4.7.1-3] '/+' matches '/finance'"],
  ["+/+", "/finance", true, "[MQTT-4.7.1-3] '+/+' matches '/finance'"],
  ["+/+", "/", true, "[MQTT-4.7.1-3] '+/+' matches '/' (two empty levels)"],
  ["+/tennis/#", "sport/tennis/player1", true, "[MQTT-4.7.1-3] '+' combined with '#'"],
  ["+/tennis/#", "sport/tennis", true, "[MQTT-4.7.1-3] '+' combined with '#' (parent)"],
  ["sport/+/player1", "sport/tennis/player1", true, "[MQTT-4.7.1-3] '+' in the middle"],
  ["sport/+/player1", "sport/tennis/player2", false, "[MQTT-4.7.1-3] '+' in the middle, other last level"],
  ["+/#", "a", true, "[MQTT-4.7.1-3] '+/#' matches one level"],
  // §4.7.2 topics beginning with $
  ["#", "$SYS/broker/load", false, "[MQTT-4.7.2-1] '#' does not match '$SYS/...'"],
  ["#", "$SYS", false, "[MQTT-4.7.2-1] '#' does not match '$SYS'"],
  ["+/monitor/Clients", "$SYS/monitor/Clients", false, "[MQTT-4.7.2-1] '+/...' does not match '$SYS/...'"],
  ["+", "$x", false, "[MQTT-4.7.2-1] '+' does not match '$x'"],
  ["+/#", "$x/a", false, "[MQTT-4.7.2-1] '+/#' does not match '$x/a'"],
  ["$SYS/#", "$SYS/monitor/Clients", true, "[MQTT-4.7.2-1] '$SYS/#' matches '$SYS/...'"],
  ["$SYS/#", "$SYS", true, "[MQTT-4.7.2-1] '$SYS/#' matches '$SYS'"],
  ["$SYS/monitor/+", "$SYS/monitor/Clients", true, "[MQTT-4.7.2-1] '$SYS/monitor/+' matches"],
  ["$SYS/+/Clients", "$SYS/monitor/Clients", true, "[MQTT-4.7.2-1] '+' after a '$' level matches"],
  ["a/#", "a/$b", true, "[MQTT-4.7.2-1] only the first level's '$' is special"],
  ["a/+", "a/$b", true, "[MQTT-4.7.2-1] only the first level's '$' is special (+)"],
  ["+", "x$", true, "[MQTT-4.7.2-1] '$' not first is ordinary"],
  // §4.7.3 case sensitivity, empty levels, spaces
  ["ACCOUNTS", "Accounts", false, "[MQTT-4.7.3] matching is case sensitive"],
  ["Accounts payable", "Accounts payable", true, "[MQTT-4.7.3] spaces are ordinary"],
  ["a//b", "a//b", true, "[MQTT-4.7.3] empty level exact"],
  ["a/+/b", "a//b", true, "[MQTT-4.7.3] '+' matches an empty level"],
  ["a/b", "a//b", false, "[MQTT-4.7.3] empty levels count"],
  ["a/b", "a/b/", false, "[MQTT-4.7.3] a trailing '/' adds a level"],
  ["/", "/", true, "[MQTT-4.7.3] '/' exact"],
  ["a", "a/b", false, "[MQTT-4.7.3] exact filter is no prefix match"],
];

for (const [filter, topic, expected, why] of vectors) {
  test(`topicMatches(${JSON.stringify(filter)}, ${JSON.stringify(topic)}) is ${expected}: ${why}`, () => {
    assert.equal(topicMatches(filter, topic), expected);
  });
}
