// A synchronous in-process listener (the embedding API's listen(), src/inproc/listener.ts): an entry of the
// subscription index that the router calls with each matching message while it routes it, with no session, no
// queue and no acknowledgement (at most once, like QoS 0). Its key is unique; it never shares a session's key.
import type { Message } from "./message.ts";

export class DirectListener {
  constructor(
    /** The index key: unique per listener. */
    readonly key: string,
    /** A plain topic filter (no `$share/`, no `$queue/`). */
    readonly filter: string,
    /** Called during routing; must not throw (the in-process face catches and reports its callback's errors). */
    readonly deliver: (msg: Message) => void,
  ) {}
}
