// What an MQTT refusal means to a bridge client: the HTTP and CoAP bridges map the same MQTT reason codes to the
// same stable error codes, then each to its own status (HTTP 4xx/5xx, CoAP 4.xx/5.xx).
import { ReasonCode } from "../../codec/index.ts";

export const BRIDGE_ERROR_CODES = [
  "unauthorized",
  "forbidden",
  "invalid_topic",
  "payload_too_large",
  "invalid_payload",
  "quota_exceeded",
  "qos_not_supported",
  "retain_not_supported",
  "unavailable",
  "refused",
] as const;
export type BridgeErrorCode = (typeof BRIDGE_ERROR_CODES)[number];

export interface BridgeFailure {
  code: BridgeErrorCode;
  message: string;
  reasonCode: number;
}

/**
 * An MQTT reason code -> stable code and message. `atConnect`: refused in CONNACK (authentication); `credentials`:
 * the request carried credentials (NotAuthorized then means "this identity may not", not "log in").
 */
export function classifyReasonCode(rc: number, atConnect: boolean, credentials: boolean): BridgeFailure {
  const hex = `0x${rc.toString(16).padStart(2, "0")}`;
  const mk = (code: BridgeErrorCode, msg: string): BridgeFailure => ({
    code,
    message: `${msg} (MQTT reason code ${hex})`,
    reasonCode: rc,
  });
  switch (rc) {
    case ReasonCode.BadUserNameOrPassword:
      return mk("unauthorized", "bad user name or password");
    case ReasonCode.NotAuthorized:
      if (!atConnect) return mk("forbidden", "not authorized (ACL)");
      return credentials ? mk("forbidden", "not authorized") : mk("unauthorized", "credentials required");
    case ReasonCode.TopicNameInvalid:
    case ReasonCode.TopicFilterInvalid:
      return mk("invalid_topic", "invalid topic");
    case ReasonCode.PacketTooLarge:
      return mk("payload_too_large", "message too large");
    case ReasonCode.PayloadFormatInvalid:
      return mk("invalid_payload", "payload is not valid UTF-8 but payloadFormat is 1");
    case ReasonCode.QuotaExceeded:
      return mk("quota_exceeded", "quota exceeded");
    case ReasonCode.QoSNotSupported:
      return mk("qos_not_supported", "QoS not supported");
    case ReasonCode.RetainNotSupported:
      return mk("retain_not_supported", "retain not supported");
    case ReasonCode.ServerBusy:
    case ReasonCode.ServerUnavailable:
      return mk("unavailable", "broker unavailable");
    default:
      return mk("refused", "the broker refused the request");
  }
}
