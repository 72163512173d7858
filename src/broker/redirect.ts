// 5.0 server redirection (§4.11): while a redirect is set, new connections are refused with CONNACK 0x9C Use
// another server / 0x9D Server moved carrying a Server Reference; broker.redirect() can also move the clients
// already connected, with DISCONNECT 0x9C / 0x9D. MQTT 3.x has no redirection: those clients get CONNACK 0x03
// Server unavailable (and are simply closed when moved).
import { ReasonCode } from "../codec/index.ts";
import type { Properties } from "../codec/index.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";
import { BrokerError, BrokerErrorCode } from "./errors.ts";
import type { ServerRedirect } from "./options.ts";

/** Throws BrokerError when `r` is not a usable redirect (wrong reason code, empty reference). */
export function checkServerRedirect(r: ServerRedirect): ServerRedirect {
  if (r.reasonCode !== ReasonCode.UseAnotherServer && r.reasonCode !== ReasonCode.ServerMoved) {
    throw new BrokerError(
      BrokerErrorCode.InvalidOption,
      `serverRedirect.reasonCode must be 0x9c (Use another server) or 0x9d (Server moved), got ${String(r.reasonCode)}`,
    );
  }
  if (typeof r.serverReference !== "string" || r.serverReference.length === 0) {
    throw new BrokerError(BrokerErrorCode.InvalidOption, "serverRedirect.serverReference must be a non-empty string");
  }
  return { reasonCode: r.reasonCode, serverReference: r.serverReference };
}

function redirectProperties(c: ClientContext, r: ServerRedirect): Properties {
  const why = r.reasonCode === ReasonCode.ServerMoved ? "server moved" : "use another server";
  return { serverReference: r.serverReference, ...c.problem(why) };
}

/** CONNACK 0x9C / 0x9D with Server Reference (3.x: 0x03) and close. */
export function refuseRedirected(c: ClientContext, r: ServerRedirect): void {
  c.refuse(r.reasonCode, c.version === 5 ? redirectProperties(c, r) : undefined);
}

/**
 * Moves the given connections to `r`: connected 5.0 clients get DISCONNECT 0x9C / 0x9D with the Server Reference,
 * connected 3.x clients are closed, connections still authenticating get CONNACK as if they had just connected.
 * Like any server-initiated close, the wills of the moved clients are published. Returns how many were moved.
 */
export function redirectConnections(conns: Iterable<ClientContext>, r: ServerRedirect): number {
  let moved = 0;
  for (const c of [...conns]) {
    if (c.state === ConnState.Connected) {
      c.disconnect(r.reasonCode, c.version === 5 ? redirectProperties(c, r) : undefined);
      moved++;
    } else if (c.state === ConnState.Connecting) {
      refuseRedirected(c, r);
      moved++;
    }
  }
  return moved;
}
