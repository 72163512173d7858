// CONNECT handling: client identifier rules, anonymous access, authentication (maybe async), session
// setup (clean session / takeover / resume), CONNACK, keepalive.
import { MAX_UINT16 } from "../util/index.ts";
import { encode, PacketType, ReasonCode } from "../codec/index.ts";
import type { ConnectPacket } from "../codec/index.ts";
import { isPromise } from "./hooks.ts";
import type { AuthResult, AuthenticateContext } from "./hooks.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";
import type { OpenedSession } from "./session-registry.ts";
import { NEVER_EXPIRES } from "./session.ts";
import type { AclRule } from "./options.ts";
import { outboundAliasesFor } from "./topic-alias-out.ts";
import { connackProperties, responseInformationFor } from "./v5.ts";
import { emitAuthResult, startConnectAuth } from "./enhanced-auth.ts";
import { events } from "./events.ts";
import type { EnhancedAuthOutcome } from "./enhanced-auth-state.ts";
import { payloadFormatInvalid } from "./payload-format.ts";
import { refuseRedirected } from "./redirect.ts";

export function handleConnect(c: ClientContext, p: ConnectPacket): void | Promise<void> {
  const broker = c.broker;
  const opts = broker.options;
  const v = p.protocolVersion;
  c.version = v;
  c.state = ConnState.Connecting;
  const tracer = broker.tracer;
  if (tracer !== undefined) {
    c.connectTrace = tracer.connect({
      clientId: p.clientId,
      protocolVersion: v,
      transport: c.transport.kind,
      remoteAddress: c.transport.remoteAddress,
      properties: p.properties,
    });
  }
  if (v === 5) {
    // Needed for a refusing CONNACK already: its Reason String obeys both (5.0 [MQTT-3.1.2-29] [MQTT-3.2.2-19]).
    c.problemInformation = p.properties?.requestProblemInformation !== 0;
    if (p.properties?.maximumPacketSize !== undefined) c.clientMaxPacketSize = p.properties.maximumPacketSize;
  }
  const redirect = broker.serverRedirect;
  if (redirect !== undefined) {
    refuseRedirected(c, redirect); // 5.0 §4.11: CONNACK 0x9C / 0x9D with Server Reference; 3.x 0x03
    return;
  }

  let clientId = p.clientId;
  let assigned = false;
  if (clientId.length === 0) {
    // 3.1.1: only with clean session 1 [MQTT-3.1.3-6]; clean session 0 -> 0x02 [MQTT-3.1.3-8]. 3.1 requires an
    // id of 1-23 characters. 5.0 always assigns one (5.0 [MQTT-3.1.3-6]).
    if (v === 5 || (v === 4 && p.clean)) {
      clientId = broker.assignClientId();
      assigned = true;
    } else {
      c.refuse(ReasonCode.ClientIdentifierNotValid);
      return;
    }
  }
  if (v === 5) {
    if (p.will !== undefined && p.will.qos > opts.maximumQoS) {
      c.refuse(ReasonCode.QoSNotSupported); // 5.0 [MQTT-3.2.2-12]
      return;
    }
    if (p.will?.retain === true && !opts.retainAvailable) {
      c.refuse(ReasonCode.RetainNotSupported); // 5.0 [MQTT-3.2.2-13]
      return;
    }
    if (p.will !== undefined && opts.validatePayloadFormat && payloadFormatInvalid(p.will.payload, p.will.properties)) {
      // 5.0 §3.1.3.2.3: a Will Payload not in the format its Payload Format Indicator declares -> 0x99.
      c.refuse(ReasonCode.PayloadFormatInvalid, c.problem("will payload is not valid UTF-8"));
      return;
    }
    if (p.properties?.authenticationMethod !== undefined && c.transport.peerIdentity?.username === undefined) {
      // 5.0 enhanced authentication (§4.12) replaces the User Name / Password checks and the authenticate hook.
      return startConnectAuth(c, p, clientId, assigned, completeConnect);
    }
  }
  const certUser = c.transport.peerIdentity?.username;
  if (certUser !== undefined) {
    // The transport authenticated the client and the listener maps it to a user name (a verified TLS client
    // certificate's CN or SAN, tls.usernameFrom): that is the user; the CONNECT User Name / Password are not
    // consulted (like Mosquitto's use_identity_as_username).
    return completeConnect(c, p, clientId, assigned, true, { username: certUser, properties: {} });
  }
  // Anonymous = no credential of any kind: no User Name, no Password (5.0 allows a password alone, e.g. a JWT),
  // no identity proven by the transport (mTLS).
  const peerIdentity = c.transport.peerIdentity;
  const anonymous = p.username === undefined && p.password === undefined && peerIdentity === undefined;
  if (!opts.allowAnonymous && anonymous) {
    emitAuthResult(c, clientId, undefined, ReasonCode.NotAuthorized);
    c.refuse(ReasonCode.NotAuthorized); // 3.x 0x05, 5.0 0x87
    return;
  }

  const authenticate = broker.hooks?.authenticate;
  if (authenticate === undefined) {
    // Nothing can check credentials. A user name nobody verified is no identity (issue #14: `-u nobody` used to
    // be accepted): with allowAnonymous false every client is refused.
    if (!opts.allowAnonymous) {
      emitAuthResult(c, clientId, p.username, ReasonCode.NotAuthorized);
      c.refuse(ReasonCode.NotAuthorized, c.problem("no authentication method accepts clients"));
      return;
    }
    return completeConnect(c, p, clientId, assigned, true);
  }
  const ctx: AuthenticateContext = {
    clientId,
    username: p.username,
    password: p.password,
    peerIdentity,
    protocolVersion: v,
    remoteAddress: c.transport.remoteAddress,
    transport: c.transport.kind,
    clean: p.clean,
    assignedClientId: assigned,
    will: p.will,
    properties: p.properties,
  };
  const onError = (err: unknown): AuthResult => {
    c.logger.error({ err, clientId }, "authenticate hook failed: refusing");
    return { reasonCode: ReasonCode.ServerUnavailable };
  };
  let result: AuthResult | Promise<AuthResult>;
  try {
    result = authenticate(ctx);
  } catch (err) {
    result = onError(err);
  }
  if (isPromise(result)) {
    return result.then(
      (r) => completeConnect(c, p, clientId, assigned, r),
      (err: unknown) => completeConnect(c, p, clientId, assigned, onError(err)),
    );
  }
  return completeConnect(c, p, clientId, assigned, result);
}

function completeConnect(
  c: ClientContext,
  p: ConnectPacket,
  clientId: string,
  assigned: boolean,
  auth: AuthResult,
  enhanced?: EnhancedAuthOutcome,
): void | Promise<void> {
  if (c.state !== ConnState.Connecting) return; // the socket closed while the hook ran
  let authenticatedAs: string | undefined;
  let clientAcl: readonly AclRule[] | undefined;
  if (auth !== true) {
    if (auth === false) {
      emitAuthResult(c, clientId, p.username, ReasonCode.BadUserNameOrPassword);
      c.refuse(ReasonCode.BadUserNameOrPassword);
      return;
    }
    if (!("accept" in auth)) {
      emitAuthResult(c, clientId, p.username, auth.reasonCode);
      c.refuse(auth.reasonCode, auth.reasonString === undefined ? undefined : c.problem(auth.reasonString));
      return;
    }
    authenticatedAs = auth.username;
    clientAcl = auth.acl;
  }
  const broker = c.broker;
  const opts = broker.options;
  const v = p.protocolVersion;
  const props = v === 5 ? p.properties : undefined;

  const username = enhanced !== undefined ? enhanced.username : (authenticatedAs ?? p.username);
  emitAuthResult(c, clientId, username, ReasonCode.Success, c.auth?.method);
  const remoteAddress = c.transport.remoteAddress;
  const transport = c.transport.kind;
  c.client =
    clientAcl === undefined
      ? { clientId, username, protocolVersion: v, remoteAddress, transport }
      : { clientId, username, protocolVersion: v, remoteAddress, transport, acl: clientAcl };
  if (clientAcl !== undefined) broker.authorizer.noteClientRules(); // per-client rules: the fast paths now check
  c.clientLogger(); // bound to the client id, made on its first line (connection.ts)
  c.inflightLimit = Math.max(1, Math.min(opts.maxInflight, props?.receiveMaximum ?? MAX_UINT16));
  c.outboundAliases = outboundAliasesFor(opts.outboundTopicAliases, props?.topicAliasMaximum); // 5.0 [MQTT-3.1.2-27]
  c.will = p.will;

  // Keepalive: capped at maxKeepAlive (0 or 65535 = no cap). 5.0 tells the client (Server Keep Alive); 3.x cannot, so the server
  // simply supervises with the cap. A 3.x keepalive of 0 (no supervision) is left alone.
  let keepAlive = p.keepAlive;
  let serverKeepAlive: number | undefined;
  const max = opts.maxKeepAlive;
  if (max > 0 && max < MAX_UINT16) {
    if (v === 5 && (keepAlive === 0 || keepAlive > max)) {
      keepAlive = max;
      serverKeepAlive = max;
    } else if (keepAlive > max) {
      keepAlive = max;
    }
  }

  // Clean session 1 = session ends with the connection (expiry 0); clean session 0 = never expires, unless
  // mqtt.persistentSessionExpiry bounds it (issue #14: 17,700 unique clean=0 connects added 85 MB for good).
  const persistent = opts.persistentSessionExpiry > 0 ? opts.persistentSessionExpiry : NEVER_EXPIRES;
  const expiry = v === 5 ? (props?.sessionExpiryInterval ?? 0) : p.clean ? 0 : persistent;
  if (!broker.sessionAllowed(clientId)) {
    // mqtt.maxSessions reached and this client has none: 5.0 0x97 Quota exceeded, 3.x 0x03 Server unavailable.
    c.refuse(v === 5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable, c.problem("too many sessions"));
    return;
  }
  const opened = broker.openSession(c, clientId, p.clean, expiry);
  if (!isPromise(opened)) {
    // The in-process registry: no await, closure nor object on the CONNECT path.
    acceptConnect(c, p, opened, clientId, assigned, username, keepAlive, serverKeepAlive, enhanced);
    return;
  }
  return opened.then(
    (o) => {
      if (c.state === ConnState.Connecting) {
        acceptConnect(c, p, o, clientId, assigned, username, keepAlive, serverKeepAlive, enhanced);
        return;
      }
      // Closed while a remote registry answered: the session was attached to this connection; detach it again.
      c.session = o.session;
      broker.connectionEnded(c, true, undefined);
    },
    (err: unknown) => {
      // A cluster registry could not settle who owns the client id (etcd or the owning node unreachable): the
      // client retries later. 5.0 0x88 Server unavailable, 3.x 0x03.
      if (c.state !== ConnState.Connecting) return;
      c.logger.warn({ err, clientId }, "session not available: refusing the CONNECT");
      c.refuse(ReasonCode.ServerUnavailable, c.problem("session not available here now; retry"));
    },
  );
}

/** 3.x CONNACK accepted (return code 0), without and with Session Present (3.1.1 §3.2). */
const CONNACK_V3_ACCEPTED = encode({ type: PacketType.CONNACK, sessionPresent: false, reasonCode: 0 }, 4);
const CONNACK_V3_PRESENT = encode({ type: PacketType.CONNACK, sessionPresent: true, reasonCode: 0 }, 4);

/** The session is attached: CONNACK, keepalive, then resend and drain the session [MQTT-4.4.0-1]. */
function acceptConnect(
  c: ClientContext,
  p: ConnectPacket,
  opened: OpenedSession,
  clientId: string,
  assigned: boolean,
  username: string | undefined,
  keepAlive: number,
  serverKeepAlive: number | undefined,
  enhanced: EnhancedAuthOutcome | undefined,
): void {
  const { session, present } = opened;
  const opts = c.broker.options;
  const v = p.protocolVersion;
  const props = v === 5 ? p.properties : undefined;
  c.session = session;
  c.state = ConnState.Connected;
  if (v !== 5) {
    // 3.x: the CONNACK is one of two constant 4-byte packets, encoded once and shared by every connection.
    // [MQTT-3.2.2-1] clean -> 0; [MQTT-3.2.2-2] [MQTT-3.2.2-3] otherwise whether state existed.
    c.sendEncoded(present ? CONNACK_V3_PRESENT : CONNACK_V3_ACCEPTED);
  } else {
    c.send({
      type: PacketType.CONNACK,
      sessionPresent: present,
      reasonCode: ReasonCode.Success,
      properties: {
        ...connackProperties(opts, {
          maxPacketSize: c.maxPacketSize,
          assignedClientIdentifier: assigned ? clientId : undefined,
          serverKeepAlive,
          // Only on request (5.0 [MQTT-3.1.2-28]).
          responseInformation:
            props?.requestResponseInformation === 1 ? responseInformationFor(opts, clientId, username) : undefined,
        }),
        ...enhanced?.properties, // Authentication Method and Data (5.0 [MQTT-4.12.0-5])
      },
    });
  }
  c.startKeepAlive(keepAlive);
  const byTransport = c.broker.counters.connectsByTransport;
  byTransport.set(c.transport.kind, (byTransport.get(c.transport.kind) ?? 0) + 1);
  if (c.connectTrace !== undefined) {
    c.connectTrace.end(ReasonCode.Success);
    c.connectTrace = undefined;
  }
  if (events.connect.hasSubscribers) {
    events.connect.publish({
      broker: c.broker.id,
      clientId,
      username,
      protocolVersion: v,
      remoteAddress: c.transport.remoteAddress,
      transport: c.transport.kind,
      clean: p.clean,
      sessionPresent: present,
      keepAlive,
    });
  }
  // The line's fields are gathered only when it is written (the default level for benchmarks and busy brokers is warn).
  if (c.logsInfo) {
    c.logger.info(
      {
        remote: c.transport.remoteAddress,
        transport: c.transport.kind,
        version: v,
        clean: p.clean,
        keepAlive,
        sessionPresent: present,
        username,
      },
      "client connected",
    );
  }
  session.resume(); // resend unacknowledged messages [MQTT-4.4.0-1], then what queued up offline
}
