// Validation of topic names, topic filters and shared-subscription filters (MQTT 3.1.1 §4.7, 5.0 §4.7 / §4.8.2).
import { TopicError } from "./errors.ts";

/** Longest topic in UTF-8 bytes: a UTF-8 Encoded String has a two-byte length prefix [MQTT-4.7.3-3]. */
import { MAX_STRING_BYTES } from "../util/limits.ts";

/** Longest topic name / filter in UTF-8 bytes [MQTT-4.7.3-3]. */
export const MAX_TOPIC_BYTES = MAX_STRING_BYTES;

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

// Problems found by the scanners, as small integers so that the boolean is* checks allocate nothing.
const Problem = {
  None: 0,
  Empty: 1,
  TooLong: 2,
  Null: 3,
  Surrogate: 4,
  WildcardInName: 5,
  HashNotLast: 6,
  PlusNotAlone: 7,
} as const;
type ProblemValue = (typeof Problem)[keyof typeof Problem];

const problemText: Record<Exclude<ProblemValue, 0>, readonly [string, string]> = {
  [Problem.Empty]: ["must be at least one character long", "[MQTT-4.7.3-1]"],
  [Problem.TooLong]: [`must not be longer than ${MAX_TOPIC_BYTES} UTF-8 bytes`, "[MQTT-4.7.3-3]"],
  [Problem.Null]: ["must not contain U+0000", "[MQTT-4.7.3-2]"],
  [Problem.Surrogate]: ["must be well-formed UTF-8 (lone surrogate)", "[MQTT-1.5.4-1]"],
  [Problem.WildcardInName]: ["must not contain the wildcard characters '+' or '#'", "[MQTT-4.7.1-1]"],
  [Problem.HashNotLast]: ['\'#\' must be the last character and alone in its level ("#" or ".../#")', "[MQTT-4.7.1-2]"],
  [Problem.PlusNotAlone]: ["'+' must occupy an entire level", "[MQTT-4.7.1-3]"],
};

/**
 * Length check without encoding: every UTF-16 code unit takes at most 3 UTF-8 bytes (a surrogate pair, two units,
 * takes 4), so strings of up to 21845 units can never be too long and the common case costs nothing.
 */
function tooLong(s: string): boolean {
  return s.length > MAX_TOPIC_BYTES / 3 && Buffer.byteLength(s, "utf8") > MAX_TOPIC_BYTES;
}

/** Checks a surrogate at index i: 0 if it starts a valid pair (caller skips i+1), Problem.Surrogate otherwise. */
function surrogateAt(s: string, i: number, c: number): ProblemValue {
  if (c <= 0xdbff) {
    const next = s.charCodeAt(i + 1); // NaN past the end
    if (next >= 0xdc00 && next <= 0xdfff) return Problem.None;
  }
  return Problem.Surrogate;
}

function scanName(s: string): ProblemValue {
  const n = s.length;
  if (n === 0) return Problem.Empty;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return Problem.Null;
    if (c === PLUS || c === HASH) return Problem.WildcardInName;
    if (c >= 0xd800 && c <= 0xdfff) {
      if (surrogateAt(s, i, c) !== Problem.None) return Problem.Surrogate;
      i++;
    }
  }
  return tooLong(s) ? Problem.TooLong : Problem.None;
}

function scanFilter(s: string): ProblemValue {
  const n = s.length;
  if (n === 0) return Problem.Empty;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return Problem.Null;
    if (c === PLUS) {
      // [MQTT-4.7.1-3] e.g. "sport+" and "+a" are invalid; "+", "+/x", "x/+/y" are valid.
      if ((i > 0 && s.charCodeAt(i - 1) !== SLASH) || (i + 1 < n && s.charCodeAt(i + 1) !== SLASH)) {
        return Problem.PlusNotAlone;
      }
    } else if (c === HASH) {
      // [MQTT-4.7.1-2] e.g. "sport/tennis#" and "sport/#/ranking" are invalid.
      if ((i > 0 && s.charCodeAt(i - 1) !== SLASH) || i !== n - 1) return Problem.HashNotLast;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      if (surrogateAt(s, i, c) !== Problem.None) return Problem.Surrogate;
      i++;
    }
  }
  return tooLong(s) ? Problem.TooLong : Problem.None;
}

function describe(s: string): string {
  const shown = s.length > 64 ? `${s.slice(0, 61)}...` : s;
  return JSON.stringify(shown);
}

/**
 * A valid Topic Name for PUBLISH: non-empty [MQTT-4.7.3-1], no '+' or '#' [MQTT-4.7.1-1], no U+0000
 * [MQTT-4.7.3-2], at most 65535 UTF-8 bytes [MQTT-4.7.3-3], well-formed UTF-16/UTF-8 [MQTT-1.5.4-1].
 * Empty levels ("a//b", "/a") and '$' names are valid.
 */
export function isValidTopicName(topic: string): boolean {
  return scanName(topic) === Problem.None;
}

/** Like isValidTopicName, but throws a TopicError (code TOPIC_NAME_INVALID, reason 0x90) naming the rule. */
export function validateTopicName(topic: string): void {
  const p = scanName(topic);
  if (p === Problem.None) return;
  const [text, ref] = problemText[p];
  throw TopicError.invalidName(`topic name ${describe(topic)} ${text}`, ref);
}

/**
 * A valid Topic Filter for SUBSCRIBE / UNSUBSCRIBE: non-empty, no U+0000, at most 65535 bytes, '#' only as the last
 * character and alone in its level [MQTT-4.7.1-2], '+' alone in its level [MQTT-4.7.1-3]. This does not treat
 * `$share/...` specially (use parseSharedFilter for 5.0); "$share/g/#" is a plain valid filter syntactically.
 */
export function isValidTopicFilter(filter: string): boolean {
  return scanFilter(filter) === Problem.None;
}

/** Like isValidTopicFilter, but throws a TopicError (code TOPIC_FILTER_INVALID, reason 0x8F) naming the rule. */
export function validateTopicFilter(filter: string): void {
  const p = scanFilter(filter);
  if (p === Problem.None) return;
  const [text, ref] = problemText[p];
  throw TopicError.invalidFilter(`topic filter ${describe(filter)} ${text}`, ref);
}

/** True if the filter contains a '+' or '#' (assumes a valid filter: any such character is a wildcard). */
export function hasWildcard(filter: string): boolean {
  return filter.includes("+") || filter.includes("#");
}

const SHARE_PREFIX = "$share/";

/**
 * Splits an MQTT 5.0 shared subscription `$share/<ShareName>/<filter>` [MQTT-4.8.2]. Returns undefined when the
 * filter does not start with "$share/" (a normal subscription; note "$share" alone is a normal filter). Throws a
 * TopicError (TOPIC_FILTER_INVALID) if it starts with "$share/" but the ShareName is empty [MQTT-4.8.2-1], contains
 * '+' or '#' [MQTT-4.8.2-2], is not followed by "/" and a non-empty valid filter [MQTT-4.8.2-2], or the whole
 * string breaks a filter rule (U+0000, length).
 *
 * MQTT 3.1.1 has no shared subscriptions: for 3.1.1 sessions the broker should not call this at all.
 */
export function parseSharedFilter(filter: string): { group: string; filter: string } | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  const slash = filter.indexOf("/", SHARE_PREFIX.length);
  const group = filter.slice(SHARE_PREFIX.length, slash === -1 ? filter.length : slash);
  if (group.length === 0) {
    throw TopicError.invalidFilter(
      `shared subscription ${describe(filter)} must have a ShareName of at least one character`,
      "[MQTT-4.8.2-1]",
    );
  }
  if (group.includes("+") || group.includes("#")) {
    throw TopicError.invalidFilter(
      `shared subscription ${describe(filter)}: the ShareName must not contain '/', '+' or '#'`,
      "[MQTT-4.8.2-2]",
    );
  }
  if (slash === -1 || slash === filter.length - 1) {
    throw TopicError.invalidFilter(
      `shared subscription ${describe(filter)}: the ShareName must be followed by '/' and a topic filter`,
      "[MQTT-4.8.2-2]",
    );
  }
  // The inner filter starts at a level boundary and the prefix has no wildcards, so checking the whole string
  // checks the inner filter's wildcard rules as well as the string rules (length, U+0000) of the whole.
  validateTopicFilter(filter);
  return { group, filter: filter.slice(slash + 1) };
}
