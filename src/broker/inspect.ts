// Inspection and management of a running broker for operations tooling (the admin API in src/admin): sessions with
// the connection attached to each, disconnecting a client, ending a session, the retained store. Kept apart from
// the Broker facade so that embedders see the small documented API, and built on the internal runtime.
import { brokerInternals } from "./internal.ts";
import type { ClientContext } from "./core.ts";
import type { RetainedStore } from "./retained.ts";
import type { Session } from "./session.ts";

export interface ConnectionView {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: number;
  readonly remoteAddress: string;
  /** Transport kind: "tcp", "tls", "ws", … */
  readonly transport: string;
}

export interface BrokerInspector {
  /** Every session (connected and offline), unordered. */
  sessions(): Iterable<Session>;
  session(clientId: string): Session | undefined;
  /** Connections attached to a session (CONNECT accepted), by client id. Built per call: O(connections). */
  connections(): Map<string, ConnectionView>;
  /** Disconnects a connected client: 5.0 DISCONNECT `reasonCode`, 3.x closed. False if not connected. */
  disconnect(clientId: string, reasonCode: number): boolean;
  /** Ends a session (disconnecting its client first), as its expiry would. False if there is none. */
  endSession(clientId: string, reasonCode: number): boolean;
  readonly retained: RetainedStore;
  /** Monotonic counters by QoS and of connections (metrics read them at scrape time; stats.ts Counters). */
  readonly counters: {
    readonly routedByQos: readonly number[];
    readonly sentByQos: readonly number[];
    readonly connectsByTransport: ReadonlyMap<string, number>;
    readonly disconnectsByInitiator: { readonly client: number; readonly server: number; readonly lost: number };
    readonly authFailuresByReason: ReadonlyMap<number, number>;
  };
}

function attached(rt: ReturnType<typeof brokerInternals>): Map<string, ClientContext> {
  const out = new Map<string, ClientContext>();
  for (const c of rt.connections) {
    const s = c.session;
    if (s !== undefined && s.link === c && c.client !== undefined) out.set(s.clientId, c);
  }
  return out;
}

/** The inspector of `broker` (a Broker instance; throws TypeError for anything else). */
export function inspectBroker(broker: object): BrokerInspector {
  const rt = brokerInternals(broker);
  return {
    sessions: () => rt.sessions.values(),
    session: (clientId) => rt.sessions.get(clientId),
    connections() {
      const out = new Map<string, ConnectionView>();
      for (const [id, c] of attached(rt)) {
        const client = c.client!;
        out.set(id, {
          clientId: id,
          username: client.username,
          protocolVersion: client.protocolVersion,
          remoteAddress: c.transport.remoteAddress,
          transport: c.transport.kind,
        });
      }
      return out;
    },
    disconnect(clientId, reasonCode) {
      const link = rt.sessions.get(clientId)?.link;
      if (link === undefined) return false;
      link.disconnect(reasonCode);
      return true;
    },
    endSession(clientId, reasonCode) {
      const s = rt.sessions.get(clientId);
      if (s === undefined) return false;
      s.link?.disconnect(reasonCode);
      // The close path may already have ended it (expiry 0); otherwise end it as expiry would.
      if (rt.sessions.get(clientId) === s) rt.sessions.end(s, "deleted");
      return true;
    },
    get counters() {
      return rt.counters;
    },
    get retained() {
      return rt.retained;
    },
  };
}
