// Synchronous listeners (docs/embedding.md "Synchronous listeners"): a callback the router calls while it routes
// each matching message, in-process or from MQTT, before publish() returns. No session, buffer, priority order,
// acknowledgement or retry: at most once, like an mqemitter or EventEmitter listener, for programs that want that
// cost (about an EventEmitter call per listener) instead of a subscription's guarantees.
import { DirectListener } from "../broker/listener.ts";
import type { LocalRouter } from "../broker/router.ts";
import type { Message } from "../broker/message.ts";
import { parseSharedFilter, validateTopicFilter } from "../topics/index.ts";
import type { Logger } from "../util/index.ts";
import { InprocError, InprocErrorCode, invalid } from "./errors.ts";
import { SharedView } from "./received.ts";
import { isQueueTopic } from "./queue.ts";
import type { Listener, ListenOptions, ReceivedMessage } from "./types.ts";

/**
 * What listeners receive: a read-only view of the routed message, one per message for all its listeners (the
 * subscriptions' shared view, with its own refusal of ack(), nack() and reject()).
 */
class ListenedMessage extends SharedView {
  override ack(): void {
    throw noAck("ack");
  }

  override nack(): void {
    throw noAck("nack");
  }

  override reject(): void {
    throw noAck("reject");
  }
}

function noAck(what: string): InprocError {
  return new InprocError(InprocErrorCode.AckState, `${what}(): a listener's message has nothing to acknowledge`);
}

/** The last message viewed and its view: the router calls a message's listeners one after the other. */
let lastMsg: Message | undefined;
let lastView: ListenedMessage | undefined;

function viewOf(msg: Message): ListenedMessage {
  if (msg === lastMsg) return lastView!;
  lastMsg = msg;
  return (lastView = new ListenedMessage(msg));
}

/** Registers `fn` on `router` for `filter`; `key` is unique. `removed` is told when it is removed. */
export function addListener(
  router: LocalRouter,
  key: string,
  filter: string,
  fn: (msg: ReceivedMessage) => void,
  opts: ListenOptions,
  logger: Logger,
  removed: (l: Listener) => void,
): Listener {
  if (typeof fn !== "function") throw invalid("listen(): the listener must be a function");
  if (parseSharedFilter(filter) !== undefined || isQueueTopic(filter)) {
    throw invalid(`listen(${filter}): shared and $queue/ subscriptions need subscribe()`);
  }
  validateTopicFilter(filter);
  if (opts.signal?.aborted === true)
    throw new InprocError(InprocErrorCode.Closed, "listen(): the signal is already aborted");
  const onError = opts.onError;
  let active = true;
  const direct = new DirectListener(key, filter, (msg) => {
    if (!active) return; // removed by another listener of the same message
    try {
      fn(viewOf(msg));
    } catch (err) {
      if (onError !== undefined) onError(err);
      else logger.warn({ err, filter }, "in-process listener failed");
    }
  });
  const abort = (): void => listener.unsubscribe();
  const listener: Listener = {
    filter,
    unsubscribe() {
      if (!active) return;
      active = false;
      router.removeListener(direct);
      opts.signal?.removeEventListener("abort", abort);
      removed(listener);
    },
  };
  router.addListener(direct);
  opts.signal?.addEventListener("abort", abort, { once: true });
  return listener;
}
