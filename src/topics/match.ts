// Reference matcher: one topic against one filter, straight from the spec. The SubscriptionIndex is tested
// against it; use the index, not this, to find the subscribers of a message.

/**
 * True if `topic` (a valid Topic Name) matches `filter` (a valid Topic Filter, without any `$share/<group>/`
 * prefix). '+' matches exactly one level (possibly empty), '#' matches its own level and every level below,
 * including none at all: "sport/#" matches "sport" [MQTT-4.7.1-2 and its non-normative comment]. Filters starting
 * with a wildcard never match topics starting with '$' [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false; // [MQTT-4.7.2-1]
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === "#") return true;
    if (i >= t.length) return false;
    if (level !== "+" && level !== t[i]) return false;
  }
  return f.length === t.length;
}
