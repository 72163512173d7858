// Starts Wharf in-process on 127.0.0.1 with an ephemeral port, for end-to-end tests with real sockets.
import { Broker } from "../../src/broker/index.ts";
import type { AuthHooks, BrokerOptions } from "../../src/broker/index.ts";
import { listenTcp } from "../../src/transport/tcp/index.ts";
import type { TcpListener } from "../../src/transport/tcp/index.ts";
import type { Clock, Logger } from "../../src/util/index.ts";

export interface StartBrokerOptions extends Partial<BrokerOptions> {
  clock?: Clock;
  logger?: Logger;
  auth?: AuthHooks;
  /** Listener limit: connections beyond it are closed at once. */
  maxConnections?: number;
  /** Listener limit passed as ListenerLimits.maxPacketSize. */
  listenerMaxPacketSize?: number;
}

export interface StartedBroker {
  broker: Broker;
  listener: TcpListener;
  port: number;
  /** mqtt://127.0.0.1:PORT */
  url: string;
  /** Stops accepting and shuts the broker down (idempotent). */
  close(): Promise<void>;
}

export async function startBroker(opts: StartBrokerOptions = {}): Promise<StartedBroker> {
  const { clock, logger, auth, maxConnections, listenerMaxPacketSize, ...options } = opts;
  const broker = new Broker(options, { clock, logger, auth });
  const listener = await listenTcp(
    broker,
    { host: "127.0.0.1", port: 0, maxConnections, maxPacketSize: listenerMaxPacketSize },
    logger,
  );
  let closing: Promise<void> | undefined;
  return {
    broker,
    listener,
    port: listener.port,
    url: `mqtt://127.0.0.1:${listener.port}`,
    close: () =>
      (closing ??= (async () => {
        await listener.close();
        await broker.close();
      })()),
  };
}
