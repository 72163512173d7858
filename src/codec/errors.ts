import { WharfError } from "../util/errors.ts";
import { ReasonCode } from "./reason-codes.ts";

/** Stable machine-readable codes of codec errors. */
export const CodecErrorCode = {
  MalformedPacket: "CODEC_MALFORMED_PACKET",
  ProtocolError: "CODEC_PROTOCOL_ERROR",
  PacketTooLarge: "CODEC_PACKET_TOO_LARGE",
  UnsupportedProtocolVersion: "CODEC_UNSUPPORTED_PROTOCOL_VERSION",
  TopicNameInvalid: "CODEC_TOPIC_NAME_INVALID",
  TopicAliasInvalid: "CODEC_TOPIC_ALIAS_INVALID",
  /** EncodeError: the packet cannot be represented on the wire (a bug in the caller). */
  InvalidPacket: "CODEC_INVALID_PACKET",
} as const;
export type CodecErrorCodeValue = (typeof CodecErrorCode)[keyof typeof CodecErrorCode];

/**
 * The only kind of error the decoder ever throws. `reasonCode` is what the server must send
 * (in CONNACK or DISCONNECT for 5.0; 3.1.1 simply closes the connection), `specRef` the
 * normative statement broken, e.g. "[MQTT-1.5.4-2]".
 */
export class CodecError extends WharfError<CodecErrorCodeValue> {
  override readonly name = "CodecError";
  declare readonly reasonCode: number;
  readonly specRef: string | undefined;

  constructor(code: CodecErrorCodeValue, reasonCode: number, message: string, specRef?: string) {
    super(code, specRef ? `${message} ${specRef}` : message, { reasonCode });
    this.specRef = specRef;
  }

  static malformed(message: string, specRef?: string): CodecError {
    return new CodecError(CodecErrorCode.MalformedPacket, ReasonCode.MalformedPacket, message, specRef);
  }

  static protocol(message: string, specRef?: string): CodecError {
    return new CodecError(CodecErrorCode.ProtocolError, ReasonCode.ProtocolError, message, specRef);
  }

  static topicName(message: string, specRef?: string): CodecError {
    return new CodecError(CodecErrorCode.TopicNameInvalid, ReasonCode.TopicNameInvalid, message, specRef);
  }

  static topicAlias(message: string, specRef?: string): CodecError {
    return new CodecError(CodecErrorCode.TopicAliasInvalid, ReasonCode.TopicAliasInvalid, message, specRef);
  }

  static unsupportedVersion(message: string, specRef?: string): CodecError {
    return new CodecError(
      CodecErrorCode.UnsupportedProtocolVersion,
      ReasonCode.UnsupportedProtocolVersion,
      message,
      specRef,
    );
  }

  static tooLarge(size: number, max: number): CodecError {
    return new CodecError(
      CodecErrorCode.PacketTooLarge,
      ReasonCode.PacketTooLarge,
      `packet of ${size} bytes exceeds the maximum packet size of ${max} bytes`,
      "[MQTT-3.2.2-15]",
    );
  }
}

/**
 * Thrown by the encoder for a packet that cannot be represented on the wire (a string over
 * 65,535 bytes, QoS > 0 without packet identifier, a packet over 256 MB, AUTH before 5.0…).
 * It signals a bug in the caller, never bad input from a peer.
 */
export class EncodeError extends WharfError<typeof CodecErrorCode.InvalidPacket> {
  override readonly name = "EncodeError";

  constructor(message: string) {
    super(CodecErrorCode.InvalidPacket, message);
  }
}
