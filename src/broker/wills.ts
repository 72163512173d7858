// Publishing a will [MQTT-3.1.2-8]: the will is routed like a PUBLISH of its client, after the same publish
// authorization (the ACL and the authorizePublish hook, with `will: true`), never under $SYS/. When it fires
// (at once, after the 5.0 Will Delay Interval, or when its session ends) is the SessionRegistry's business.
import type { Will } from "../codec/index.ts";
import type { Logger } from "../util/index.ts";
import { isPromise } from "./hooks.ts";
import type { Authorizer, ClientInfo } from "./hooks.ts";
import { createMessage } from "./message.ts";
import type { Message } from "./message.ts";
import type { RouteResult } from "./router.ts";
import { SYS_PREFIX } from "./sys.ts";
import type { BrokerTracer } from "./tracing.ts";

export interface WillDeps {
  readonly now: () => number;
  readonly logger: Logger;
  readonly authorizer: Authorizer;
  readonly publish: (msg: Message) => RouteResult;
  /** The broker's tracer, if any (read when a will is routed: tracing can be switched on and off). */
  readonly tracer: () => BrokerTracer | undefined;
}

/** Routes the will, traced when the tracer samples it (a `will` span: docs/operations.md "Tracing"). */
function route(deps: WillDeps, msg: Message, clientId: string): void {
  const trace = deps.tracer()?.will?.(clientId, msg.topic, msg);
  if (trace === undefined) {
    deps.publish(msg);
    return;
  }
  const r = deps.publish({ ...msg, properties: trace.properties, trace: trace.ref });
  trace.routed(r.matched, r.refused);
  trace.acked(0);
}

export function publishWill(deps: WillDeps, will: Will, client: ClientInfo): void {
  if (will.topic.startsWith(SYS_PREFIX)) return;
  const msg = createMessage(
    {
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain, // [MQTT-3.1.2-16] [MQTT-3.1.2-17]
      properties: will.properties,
      origin: client.clientId,
    },
    deps.now(),
  );
  deps.logger.debug({ clientId: client.clientId, topic: will.topic }, "publishing will");
  const authorizer = deps.authorizer;
  if (authorizer.publishOpen) {
    route(deps, msg, client.clientId);
    return;
  }
  const allowed = authorizer.canPublish(client, will.topic, {
    qos: will.qos,
    retain: will.retain,
    payload: will.payload,
    will: true,
  });
  if (isPromise(allowed)) {
    void allowed.then((ok) => {
      if (ok) route(deps, msg, client.clientId);
    });
  } else if (allowed) {
    route(deps, msg, client.clientId);
  }
}
