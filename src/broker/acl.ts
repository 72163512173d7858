// The config-driven ACL (options.acl): an ordered rule list, first match wins, no match = options.aclDefault
// (allow unless configured "deny"). Rules a client brought with its credentials (JWT claim, HTTP callout answer:
// ClientInfo.acl) are checked before the configured ones.
//
// Publish rules match the topic name with the usual filter semantics. Subscribe rules compare two filters:
//  - an "allow" rule applies when it covers the requested filter (every topic the subscription can match is
//    matched by the rule), e.g. allow "sensors/#" covers "sensors/+/temp";
//  - a "deny" rule applies when it overlaps the requested filter (some topic matches both), e.g. deny
//    "secret/#" refuses "#" and "+/x", so a wildcard subscription cannot be used to read denied topics.
// Rule topics may use %c (client id) and %u (user name) as whole levels' text, like Mosquitto patterns; a rule
// with %u never matches a client without user name.
import { topicMatches } from "../topics/index.ts";
import type { AclRule } from "./options.ts";

export type AclAction = "publish" | "subscribe";

export interface AclSubject {
  readonly clientId: string;
  readonly username: string | undefined;
}

function startsWithWildcard(level: string | undefined): boolean {
  return level === "+" || level === "#";
}

/** True when every topic matched by `inner` is also matched by `outer` (both valid filters). */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split("/");
  const i = inner.split("/");
  // [MQTT-4.7.2-1]: a filter starting with a wildcard never matches '$' topics.
  if (startsWithWildcard(o[0]) && i[0]?.startsWith("$") === true) return false;
  for (let k = 0; k < o.length; k++) {
    const ol = o[k]!;
    if (ol === "#") return true;
    const il = i[k];
    if (il === undefined || il === "#") return false;
    if (ol === "+") continue;
    if (ol !== il) return false;
  }
  return o.length === i.length;
}

/** True when some topic is matched by both filters. */
export function filterIntersects(a: string, b: string): boolean {
  const x = a.split("/");
  const y = b.split("/");
  const xDollar = x[0]?.startsWith("$") === true;
  const yDollar = y[0]?.startsWith("$") === true;
  if ((xDollar && startsWithWildcard(y[0])) || (yDollar && startsWithWildcard(x[0]))) return false; // [MQTT-4.7.2-1]
  for (let k = 0; ; k++) {
    const xl = x[k];
    const yl = y[k];
    if (xl === "#" || yl === "#") return true;
    if (xl === undefined || yl === undefined) return xl === yl;
    if (xl !== "+" && yl !== "+" && xl !== yl) return false;
  }
}

function expand(topic: string, subject: AclSubject): string | undefined {
  if (!topic.includes("%")) return topic;
  if (topic.includes("%u") && subject.username === undefined) return undefined;
  return topic.replaceAll("%c", subject.clientId).replaceAll("%u", subject.username ?? "");
}

/**
 * How a subscription relates to deny rules:
 *  - "subscribe" (default): a deny rule that overlaps the requested filter refuses the whole SUBSCRIBE, so a
 *    wildcard can never be used to read denied topics;
 *  - "filter": like Mosquitto's read check, the SUBSCRIBE is refused only when a deny rule covers the whole filter;
 *    otherwise it is granted and every message is checked when it is delivered (a denied topic is not sent).
 */
export type AclReadMode = "subscribe" | "filter";

/** The first matching rule's decision, or undefined when no rule matches. */
export function aclDecide(
  rules: readonly AclRule[],
  action: AclAction | "read",
  subject: AclSubject,
  topicOrFilter: string,
  mode: AclReadMode = "subscribe",
): boolean | undefined {
  const ruleAction = action === "read" ? "subscribe" : action;
  for (const rule of rules) {
    if (rule.action !== "all" && rule.action !== ruleAction) continue;
    if (rule.clientId !== undefined && rule.clientId !== subject.clientId) continue;
    if (rule.username !== undefined && rule.username !== subject.username) continue;
    const ruleTopic = expand(rule.topic, subject);
    if (ruleTopic === undefined) continue;
    let applies: boolean;
    if (action === "publish" || action === "read") applies = topicMatches(ruleTopic, topicOrFilter);
    else if (mode === "filter") {
      // A deny applies only when it covers the whole filter; an allow as soon as it can match something of it
      // (what it does not cover is checked per message at delivery).
      applies =
        rule.permission === "deny"
          ? filterCovers(ruleTopic, topicOrFilter)
          : filterIntersects(ruleTopic, topicOrFilter);
    } else if (rule.permission === "allow") applies = filterCovers(ruleTopic, topicOrFilter);
    else applies = filterIntersects(ruleTopic, topicOrFilter);
    if (applies) return rule.permission === "allow";
  }
  return undefined;
}

/** Evaluates the rule list; true = allowed; no matching rule = allowed. */
export function aclAllows(
  rules: readonly AclRule[],
  action: AclAction,
  subject: AclSubject,
  topicOrFilter: string,
): boolean {
  return aclDecide(rules, action, subject, topicOrFilter) ?? true;
}
