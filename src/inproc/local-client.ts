// The in-process face of the broker core: an in-process publisher or subscription is a ClientContext (src/broker/
// core.ts) like a socket connection, so the core routes to it, queues for it, persists for it and takes over from
// it exactly as for an MQTT client, but it exchanges Message objects instead of encoded packets.
import { PacketType, ReasonCode } from "../codec/index.ts";
import type { Packet, Properties, ProtocolVersion } from "../codec/index.ts";
import { ConnState, type ConnStateValue } from "../broker/conn-state.ts";
import { OutboundPressure } from "../broker/backpressure.ts";
import type { BrokerCore, ClientContext } from "../broker/core.ts";
import type { ClientInfo } from "../broker/hooks.ts";
import type { Delivery } from "../broker/message.ts";
import { NEVER_EXPIRES, type Session } from "../broker/session.ts";
import type { OpenedSession } from "../broker/session-registry.ts";
import type { TransportConnection } from "../broker/transport.ts";
import type { Logger } from "../util/index.ts";
import { InprocError, InprocErrorCode } from "./errors.ts";

/**
 * Client identifiers of in-process clients start with U+0000, which no MQTT client can send (it is not allowed in
 * an MQTT string [MQTT-1.5.4-2]): an MQTT client can never take over an in-process session.
 */
export const LOCAL_ID_PREFIX = "\u0000inproc:";

/** The "transport" of an in-process client: nothing to write to; closing it is the client's own business. */
const NO_TRANSPORT: TransportConnection = {
  write: () => true,
  end() {},
  destroy() {},
  pause() {},
  resume() {},
  remoteAddress: "in-process",
  kind: "inproc",
};

/** MQTT's largest packet: in-process messages have no wire size, so no size limit applies to them. */
const NO_PACKET_LIMIT = 268_435_460;

export abstract class LocalClient implements ClientContext {
  readonly transport = NO_TRANSPORT;
  readonly maxPacketSize = NO_PACKET_LIMIT;
  state: ConnStateValue = ConnState.Connected;
  version: ProtocolVersion = 5;
  client: ClientInfo;
  session: Session | undefined = undefined;
  will = undefined;
  logger: Logger;
  inflightLimit = 65_535;
  clientMaxPacketSize = NO_PACKET_LIMIT;
  problemInformation = false;
  topicAliases = undefined;
  outboundAliases = undefined;
  auth = undefined;

  constructor(
    readonly broker: BrokerCore,
    readonly clientId: string,
  ) {
    this.client = {
      clientId,
      username: undefined,
      protocolVersion: 5,
      remoteAddress: NO_TRANSPORT.remoteAddress,
      transport: NO_TRANSPORT.kind,
    };
    this.logger = broker.logger;
  }

  /** No CONNECT is handled for an in-process client: its logger stays the broker's. */
  clientLogger(): void {}

  get logsInfo(): boolean {
    return this.logger.isLevelEnabled?.("info") !== false;
  }

  #pressure: OutboundPressure | undefined = undefined;

  /**
   * The broker's overload policy (src/broker/backpressure.ts) applies to an in-process subscriber as to any other:
   * its session queue counts against the marks, and MQTT publishers feeding it are held while it is congested.
   */
  get madePressure(): OutboundPressure | undefined {
    return this.#pressure;
  }

  get pressure(): OutboundPressure {
    return (this.#pressure ??= new OutboundPressure(this, this, this.broker.overload));
  }

  /**
   * Something left this client's buffer: an episode over the marks ends once below the low marks (the session's
   * drain does the same when its queue moves; a buffer that empties with the session queue empty needs this).
   */
  protected eased(): void {
    this.#pressure?.eased();
  }

  /** Payload bytes waiting for this client: its own buffer (subclasses) plus its session queue. */
  get pendingBytes(): number {
    const s = this.session;
    return this.bufferedPayloadBytes() + (s !== undefined && s.link === this ? s.queue.bytes : 0);
  }

  get pendingMessages(): number {
    const s = this.session;
    return s !== undefined && s.link === this ? s.queue.length : 0;
  }

  /** The overload policy's slow-consumer disconnect (slowConsumerDisconnectMs). */
  disconnectSlow(): void {
    this.disconnect(ReasonCode.QuotaExceeded);
  }

  /**
   * As a producer an in-process publisher is not held by the overload policy (it has no socket to pause): it is
   * paced by publish(), which waits for "block" subscribers instead (local-broker.ts).
   */
  hold(): void {}

  release(): void {}

  protected bufferedPayloadBytes(): number {
    return 0;
  }

  /** Writable unless a subclass buffers (subscriptions apply their overflow policy). */
  get canWrite(): boolean {
    return true;
  }

  writePublish(_d: Delivery, _packetId: number | undefined, _dup: boolean): boolean {
    return true;
  }

  /** Resent PUBREL of a QoS 2 delivery: the in-process receiver completes at once. */
  writePubrel(packetId: number): void {
    this.session?.onPubcomp(packetId);
  }

  /**
   * The core never dispatches packets to an in-process client (it has no decoder), so nothing should ever be sent
   * to one; fail loudly if a future code path does.
   */
  send(packet: Packet): void {
    throw new InprocError(InprocErrorCode.InvalidArgument, `packet type ${packet.type} sent to an in-process client`);
  }

  sendPuback(packetId: number): void {
    this.send({ type: PacketType.PUBACK, packetId });
  }

  sendEncoded(_buf: Buffer): void {
    throw new InprocError(InprocErrorCode.InvalidArgument, "encoded packet sent to an in-process client");
  }

  problem(_reasonString: string): Properties | undefined {
    return undefined;
  }

  refuse(reason5: number): void {
    this.disconnect(reason5);
  }

  /** Server-initiated end: session takeover, a failed storage commit, broker shutdown. */
  disconnect(reasonCode: number): void {
    if (this.state === ConnState.Closed) return;
    this.end(
      new InprocError(
        errorCodeFor(reasonCode),
        `in-process client ended by the broker (reason 0x${reasonCode.toString(16)})`,
      ),
    );
  }

  protocolError(message: string): void {
    this.end(new InprocError(InprocErrorCode.InvalidArgument, message));
  }

  closeByClient(): void {
    this.end(undefined);
  }

  abort(): void {
    this.end(undefined);
  }

  /** No keepalive: an in-process client cannot go silent without the process knowing. */
  startKeepAlive(_seconds: number): void {}

  /**
   * Attaches a fresh session (expiry 0: it ends with this client) and counts the client as connected. The local
   * session registry answers at once; a registry that must ask another node first (a cluster) answers later.
   */
  protected open(durable = false): OpenedSession | Promise<OpenedSession> {
    // Durable: resume the session if it exists [MQTT-3.1.2-4], never expire it (like 3.1.1 clean session 0).
    const opened = durable
      ? this.broker.openSession(this, this.clientId, false, NEVER_EXPIRES)
      : this.broker.openSession(this, this.clientId, true, 0);
    if (opened instanceof Promise) {
      return opened.then((o) => {
        this.session = o.session;
        return o;
      });
    }
    this.session = opened.session;
    return opened;
  }

  /**
   * Ends the client: state Closed, then the core's close path (subscriptions removed, a shared group takes back
   * what was not acknowledged). `error` is why, when the broker ended it.
   */
  protected end(error: InprocError | undefined): void {
    if (this.state === ConnState.Closed) return;
    const wasConnected = this.session !== undefined;
    this.state = ConnState.Closed;
    // Never in the broker's set of open transports (only accept() puts sockets there): no transportClosed().
    this.broker.connectionEnded(this, wasConnected, undefined);
    this.ended(error);
  }

  /** Subclass hook after the client ended. */
  protected abstract ended(error: InprocError | undefined): void;
}

function errorCodeFor(reasonCode: number) {
  if (reasonCode === ReasonCode.UnspecifiedError) return InprocErrorCode.Storage; // a failed storage commit
  if (reasonCode === ReasonCode.QuotaExceeded) return InprocErrorCode.Overflow; // declared a slow consumer
  return InprocErrorCode.Closed;
}
