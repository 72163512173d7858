// 5.0 outbound Topic Aliases (§3.3.2.3.4): the server may replace the Topic Name of PUBLISHes to a client by a
// two-byte alias once the client announced a Topic Alias Maximum > 0 in CONNECT. Only then [MQTT-3.1.2-27], never
// above that maximum [MQTT-3.1.2-26] [MQTT-3.3.2-11]. The mapping belongs to one network connection: a new
// connection starts with an empty table, also for the same session [MQTT-3.3.2-7].
//
// Policy (BrokerOptions.outboundTopicAliases "auto"):
//  - A topic with an alias on this connection is sent with an empty Topic Name and the alias.
//  - A new topic takes the next unused alias and is sent with both the Topic Name and the alias, so the client
//    learns the mapping.
//  - When every alias is in use, the least recently used topic gives up its alias to the new topic (again sent
//    with both). An LRU keeps the aliases on the hot topics; with more live topics than aliases, the cold ones
//    cost the 3-byte alias property on each send, as when they are remapped.
//  - Topics shorter than MIN_ALIASED_TOPIC bytes are sent as they are: an alias (3 bytes) would not save anything.
//  - At most MAX_OUTBOUND_ALIASES aliases per connection, whatever the client allows: the table bounds memory.
// Aliases cost the shared-Buffer fast path of QoS 0 fan-out (each aliased PUBLISH is encoded for its connection).
import type { OutboundTopicAliasPolicy } from "./options.ts";

/** Topics of fewer UTF-8 bytes are never aliased. */
export const MIN_ALIASED_TOPIC = 4;
/** Per-connection cap on outbound aliases (memory bound), below the client's Topic Alias Maximum if that is higher. */
export const MAX_OUTBOUND_ALIASES = 1024;

/** What to put in one PUBLISH: the alias, and whether the Topic Name can be left empty. */
export interface AliasChoice {
  readonly topicAlias: number;
  readonly omitTopic: boolean;
}

export class OutboundTopicAliases {
  /** Topic -> alias, least recently used first (Map insertion order, refreshed on use). */
  readonly #byTopic = new Map<string, number>();
  #nextFree = 1;

  constructor(
    /** Highest alias this connection may use (>= 1). */
    readonly maximum: number,
  ) {}

  get size(): number {
    return this.#byTopic.size;
  }

  /**
   * The alias to send `topic` with, or undefined to send the Topic Name alone. Does not change the table: call
   * commit() once the PUBLISH is actually written (a PUBLISH discarded as too large must not teach the table a
   * mapping the client never saw).
   */
  choose(topic: string): AliasChoice | undefined {
    const known = this.#byTopic.get(topic);
    if (known !== undefined) return { topicAlias: known, omitTopic: true };
    if (Buffer.byteLength(topic) < MIN_ALIASED_TOPIC) return undefined;
    if (this.#nextFree <= this.maximum) return { topicAlias: this.#nextFree, omitTopic: false };
    const lru = this.#byTopic.values().next();
    return lru.done === true ? undefined : { topicAlias: lru.value, omitTopic: false };
  }

  /** Records that `topic` was sent with `choice` (from choose(), for the same topic, with no commit in between). */
  commit(topic: string, choice: AliasChoice): void {
    const alias = choice.topicAlias;
    if (choice.omitTopic) {
      // Refresh: move to the most recently used end.
      this.#byTopic.delete(topic);
      this.#byTopic.set(topic, alias);
      return;
    }
    if (alias === this.#nextFree) {
      this.#nextFree++;
    } else {
      // Replacing the least recently used mapping: the client now maps this alias to `topic`.
      for (const [t, a] of this.#byTopic) {
        if (a === alias) {
          this.#byTopic.delete(t);
          break;
        }
      }
    }
    this.#byTopic.set(topic, alias);
  }
}

/**
 * The outbound alias table for a new 5.0 connection, or undefined when the policy is "off" or the client allows
 * no aliases (Topic Alias Maximum absent or 0 [MQTT-3.1.2-27]).
 */
export function outboundAliasesFor(
  policy: OutboundTopicAliasPolicy,
  clientTopicAliasMaximum: number | undefined,
): OutboundTopicAliases | undefined {
  if (policy === "off" || clientTopicAliasMaximum === undefined || clientTopicAliasMaximum <= 0) return undefined;
  return new OutboundTopicAliases(Math.min(clientTopicAliasMaximum, MAX_OUTBOUND_ALIASES));
}
