// MQTT 5.0-only pieces of the connection state machine: CONNACK properties and the mapping of 5.0 reason codes
// to 3.1/3.1.1 CONNACK return codes.
import { MAX_PACKET_SIZE, MAX_UINT16 } from "../util/index.ts";
import { ConnackReturnCode, ReasonCode } from "../codec/index.ts";
import type { Properties } from "../codec/index.ts";
import type { BrokerOptions } from "./options.ts";

/** Largest packet the protocol can express; a smaller server limit is announced in CONNACK. */

export interface ConnackExtras {
  maxPacketSize: number;
  assignedClientIdentifier: string | undefined;
  serverKeepAlive: number | undefined;
  /** 5.0 Response Information, already expanded (responseInformationFor); only when the client asked for it. */
  responseInformation?: string | undefined;
}

/** The CONNACK properties announcing the server's limits and capabilities (5.0 §3.2.2.3). Defaults are omitted. */
export function connackProperties(o: BrokerOptions, x: ConnackExtras): Properties {
  const p: Properties = {};
  if (o.receiveMaximum < MAX_UINT16) p.receiveMaximum = o.receiveMaximum;
  if (o.maximumQoS < 2) p.maximumQoS = o.maximumQoS; // 5.0 [MQTT-3.2.2-9]
  if (!o.retainAvailable) p.retainAvailable = 0;
  if (x.maxPacketSize < MAX_PACKET_SIZE) p.maximumPacketSize = x.maxPacketSize;
  if (x.assignedClientIdentifier !== undefined) p.assignedClientIdentifier = x.assignedClientIdentifier; // 5.0 [MQTT-3.2.2-16]
  if (o.topicAliasMaximum > 0) p.topicAliasMaximum = o.topicAliasMaximum;
  if (!o.wildcardSubscriptionAvailable) p.wildcardSubscriptionAvailable = 0;
  if (!o.subscriptionIdentifiersAvailable) p.subscriptionIdentifiersAvailable = 0;
  if (!o.sharedSubscriptionAvailable) p.sharedSubscriptionAvailable = 0;
  if (x.serverKeepAlive !== undefined) p.serverKeepAlive = x.serverKeepAlive; // 5.0 [MQTT-3.2.2-21]
  if (x.responseInformation !== undefined) p.responseInformation = x.responseInformation;
  return p;
}

/**
 * The configured Response Information for one client, `%c` / `%u` replaced by its client id / user name (empty
 * when it has none); undefined when none is configured (then the server sends none, which 5.0 allows).
 */
export function responseInformationFor(
  o: BrokerOptions,
  clientId: string,
  username: string | undefined,
): string | undefined {
  const template = o.responseInformation ?? "";
  if (template.length === 0) return undefined;
  return template.replace(/%[cu]/g, (m) => (m === "%c" ? clientId : (username ?? "")));
}

/** Nearest 3.1/3.1.1 CONNACK return code for a 5.0 CONNACK reason code. */
export function v3ConnackCode(reason5: number): number {
  switch (reason5) {
    case ReasonCode.Success:
      return ConnackReturnCode.Accepted;
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackReturnCode.IdentifierRejected;
    case ReasonCode.ServerUnavailable:
    case ReasonCode.ServerBusy:
    case ReasonCode.ServerShuttingDown:
    case ReasonCode.ConnectionRateExceeded:
    case ReasonCode.UseAnotherServer:
    case ReasonCode.ServerMoved:
      return ConnackReturnCode.ServerUnavailable;
    case ReasonCode.BadUserNameOrPassword:
      return ConnackReturnCode.BadUserNameOrPassword;
    default:
      return ConnackReturnCode.NotAuthorized;
  }
}

/** 5.0 PUBACK/PUBREC reason for an accepted message, from how routing went. */
export function publishReason(matched: number, refused: number): number {
  if (matched === 0) return ReasonCode.NoMatchingSubscribers;
  // Every matching subscriber refused it (full queues): tell the publisher instead of losing it silently.
  if (refused === matched) return ReasonCode.QuotaExceeded;
  return ReasonCode.Success;
}
