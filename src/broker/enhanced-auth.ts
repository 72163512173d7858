// 5.0 enhanced authentication (§4.12): drives the AuthSessions of the pluggable EnhancedAuthenticators
// (src/broker/auth) over AUTH packets — the exchange between CONNECT and CONNACK, and re-authentication (AUTH 0x19)
// during the connection.
//
// CONNECT exchange: the steps are awaited by the connection's packet pump, so nothing the client sends is processed
// before the step it answers has finished. Re-authentication runs beside the normal traffic, which continues under
// the identity proven before; a client AUTH arriving while a step is still running is a protocol error (the client
// may only answer the server's AUTH 0x18).
import { PacketType, ReasonCode, isReasonCodeAllowed } from "../codec/index.ts";
import type { AuthPacket, ConnectPacket, Packet, Properties } from "../codec/index.ts";
import type { AuthSession, AuthStepResult } from "./auth/index.ts";
import { ConnState } from "./conn-state.ts";
import type { ClientContext } from "./core.ts";
import { EnhancedAuthState } from "./enhanced-auth-state.ts";
import type { EnhancedAuthOutcome } from "./enhanced-auth-state.ts";
import { events } from "./events.ts";
import type { AuthResult } from "./hooks.ts";

/** The CONNECT acceptance of src/broker/connect.ts, passed in (connect.ts imports this module, not the reverse). */
export type CompleteConnect = (
  c: ClientContext,
  p: ConnectPacket,
  clientId: string,
  assigned: boolean,
  auth: AuthResult,
  enhanced?: EnhancedAuthOutcome,
) => void | Promise<void>;

const DISCONNECT_FALLBACK = ReasonCode.NotAuthorized;

/**
 * The auth-result event (events.ts) for a CONNECT: 0x00 accepted, else the refusing CONNACK code (5.0 numbering),
 * which is also counted (Counters.authFailuresByReason, the metrics' wharf_auth_failures_total).
 */
export function emitAuthResult(
  c: ClientContext,
  clientId: string,
  username: string | undefined,
  reasonCode: number,
  method?: string,
): void {
  if (reasonCode !== ReasonCode.Success) {
    const failures = c.broker.counters.authFailuresByReason;
    failures.set(reasonCode, (failures.get(reasonCode) ?? 0) + 1);
  }
  if (!events.authResult.hasSubscribers) return;
  events.authResult.publish({
    broker: c.broker.id,
    clientId,
    username,
    remoteAddress: c.transport.remoteAddress,
    ok: reasonCode === ReasonCode.Success,
    reasonCode,
    method,
  });
}

/** Runs one step; an authenticator that breaks the never-throw contract fails the exchange with 0x83. */
async function step(c: ClientContext, session: AuthSession, data: Buffer | undefined): Promise<AuthStepResult> {
  try {
    return await session.step(data);
  } catch (err) {
    c.logger.error({ err, clientId: c.client?.clientId }, "authenticator step threw: failing the exchange");
    return { kind: "failure", reasonCode: ReasonCode.ImplementationSpecificError, reason: "internal error" };
  }
}

function authPacket(method: string, reasonCode: number, data: Buffer | undefined): AuthPacket {
  const properties: Properties = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = data;
  return { type: PacketType.AUTH, reasonCode, properties };
}

function failureProperties(c: ClientContext, r: Extract<AuthStepResult, { kind: "failure" }>): Properties | undefined {
  return r.reason === undefined ? undefined : c.problem(r.reason);
}

function logFailure(c: ClientContext, what: string, r: Extract<AuthStepResult, { kind: "failure" }>): void {
  c.logger.info(
    { clientId: c.client?.clientId, remote: c.transport.remoteAddress, reasonCode: r.reasonCode, detail: r.detail },
    what,
  );
}

// ---- the exchange at CONNECT ----------------------------------------------------------------------------------

/**
 * CONNECT with an Authentication Method (5.0 only): starts the exchange with the method's authenticator, or
 * refuses with CONNACK 0x8C when the method is not offered [MQTT-4.12.0-1].
 */
export function startConnectAuth(
  c: ClientContext,
  p: ConnectPacket,
  clientId: string,
  assigned: boolean,
  complete: CompleteConnect,
): void | Promise<void> {
  const method = p.properties!.authenticationMethod!;
  const authenticator = c.broker.authenticators.get(method);
  if (authenticator === undefined) {
    c.logger.info({ clientId, method }, "authentication method not offered");
    emitAuthResult(c, clientId, p.username, ReasonCode.BadAuthenticationMethod, method);
    c.refuse(ReasonCode.BadAuthenticationMethod, c.problem(`authentication method ${method} is not supported`));
    return;
  }
  const st = new EnhancedAuthState(method, {
    p,
    clientId,
    complete: (auth, enhanced) => complete(c, p, clientId, assigned, auth, enhanced),
  });
  c.auth = st;
  let session: AuthSession;
  try {
    session = authenticator.start({ clientId, username: p.username });
  } catch (err) {
    c.logger.error({ err, clientId, method }, "authenticator start threw: refusing");
    c.refuse(ReasonCode.ImplementationSpecificError);
    return;
  }
  st.exchange = session;
  return connectStep(c, st, session, p.properties?.authenticationData);
}

async function connectStep(
  c: ClientContext,
  st: EnhancedAuthState,
  session: AuthSession,
  data: Buffer | undefined,
): Promise<void> {
  const r = await step(c, session, data);
  const pending = st.connect;
  if (c.state !== ConnState.Connecting || pending === undefined) return; // closed meanwhile (timeout, socket)
  switch (r.kind) {
    case "continue":
      c.send(authPacket(st.method, ReasonCode.ContinueAuthentication, r.data)); // [MQTT-4.12.0-2]
      return;
    case "success": {
      st.exchange = undefined;
      st.connect = undefined;
      st.identity = r.username ?? pending.p.username;
      const properties: Properties = { authenticationMethod: st.method }; // [MQTT-4.12.0-5]
      if (r.data !== undefined) properties.authenticationData = r.data;
      return pending.complete(true, { username: st.identity, properties });
    }
    case "failure": {
      st.end();
      logFailure(c, "enhanced authentication failed", r);
      // [MQTT-4.12.0-4]: CONNACK >= 0x80 and close; a code CONNACK cannot carry becomes 0x87.
      const code = isReasonCodeAllowed(PacketType.CONNACK, r.reasonCode) && r.reasonCode >= 0x80;
      const reasonCode = code ? r.reasonCode : ReasonCode.NotAuthorized;
      emitAuthResult(c, pending.clientId, pending.p.username, reasonCode, st.method);
      c.refuse(reasonCode, failureProperties(c, r));
      return;
    }
  }
}

/**
 * A packet while the CONNECT exchange waits for the client: only AUTH 0x18 with the same method continues it, a
 * DISCONNECT abandons it, anything else is a protocol error refused with CONNACK 0x82 [MQTT-3.1.2-30].
 */
export function handlePacketBeforeConnack(c: ClientContext, p: Packet): void | Promise<void> {
  const st = c.auth!;
  const session = st.exchange;
  if (session === undefined || st.connect === undefined) {
    c.abort();
    return;
  }
  if (p.type === PacketType.DISCONNECT) {
    c.logger.info({ clientId: st.connect.clientId }, "client abandoned enhanced authentication");
    c.abort();
    return;
  }
  const problem =
    p.type !== PacketType.AUTH
      ? "only AUTH or DISCONNECT may be sent before CONNACK" // [MQTT-3.1.2-30]
      : (p.reasonCode ?? 0) !== ReasonCode.ContinueAuthentication
        ? "AUTH before CONNACK must be 0x18 Continue authentication" // [MQTT-4.12.0-3]
        : p.properties?.authenticationMethod !== st.method
          ? "authentication method changed" // [MQTT-4.12.0-5]
          : undefined;
  if (problem !== undefined || p.type !== PacketType.AUTH) {
    c.logger.info({ clientId: st.connect.clientId, reason: problem }, "protocol violation during authentication");
    st.end();
    c.refuse(ReasonCode.ProtocolError, c.problem(problem ?? "protocol error"));
    return;
  }
  return connectStep(c, st, session, p.properties?.authenticationData);
}

// ---- re-authentication ----------------------------------------------------------------------------------------

function protocolError(c: ClientContext, why: string): void {
  c.logger.info({ clientId: c.client?.clientId, reason: why }, "protocol violation");
  c.disconnect(ReasonCode.ProtocolError, c.problem(why));
}

/** AUTH after CONNACK: re-authentication [MQTT-4.12.1-1], or a protocol error. */
export function handleAuth(c: ClientContext, p: AuthPacket): void {
  const st = c.auth;
  if (st === undefined) {
    protocolError(c, "AUTH without enhanced authentication in CONNECT"); // [MQTT-4.12.0-7]
    return;
  }
  if (p.properties?.authenticationMethod !== st.method) {
    protocolError(c, "AUTH with another authentication method"); // [MQTT-4.12.1-1] [MQTT-4.12.0-5]
    return;
  }
  if (st.stepping) {
    protocolError(c, "AUTH before the server answered the previous one");
    return;
  }
  const rc = p.reasonCode ?? ReasonCode.Success;
  let session: AuthSession;
  if (rc === ReasonCode.ReAuthenticate) {
    if (st.exchange !== undefined) {
      protocolError(c, "re-authentication already in progress");
      return;
    }
    const authenticator = c.broker.authenticators.get(st.method);
    if (authenticator === undefined) {
      protocolError(c, "authentication method no longer offered");
      return;
    }
    try {
      session = authenticator.start({ clientId: c.client!.clientId, username: st.identity });
    } catch (err) {
      c.logger.error({ err }, "authenticator start threw: disconnecting");
      c.disconnect(ReasonCode.ImplementationSpecificError);
      return;
    }
    st.exchange = session;
    armReauthTimer(c, st, session);
  } else if (rc === ReasonCode.ContinueAuthentication && st.exchange !== undefined) {
    session = st.exchange;
  } else {
    protocolError(
      c,
      rc === ReasonCode.ContinueAuthentication ? "AUTH 0x18 without re-authentication" : "AUTH 0x00 from the client",
    );
    return;
  }
  reauthStep(c, st, session, p.properties?.authenticationData).catch((err: unknown) => {
    c.logger.error({ err }, "re-authentication failed internally: disconnecting");
    c.disconnect(ReasonCode.ImplementationSpecificError);
  });
}

/** An exchange left unfinished for connectTimeout seconds fails like a wrong credential. */
function armReauthTimer(c: ClientContext, st: EnhancedAuthState, session: AuthSession): void {
  const seconds = c.broker.options.connectTimeout;
  if (seconds <= 0) return;
  st.timer?.cancel();
  st.timer = c.broker.clock.setTimeout(() => {
    st.timer = undefined;
    if (c.state !== ConnState.Connected || st.exchange !== session) return;
    st.exchange = undefined;
    c.logger.info({ clientId: c.client?.clientId }, "re-authentication timed out");
    c.disconnect(ReasonCode.NotAuthorized, c.problem("re-authentication timed out")); // [MQTT-4.12.1-2]
  }, seconds * 1000);
}

async function reauthStep(
  c: ClientContext,
  st: EnhancedAuthState,
  session: AuthSession,
  data: Buffer | undefined,
): Promise<void> {
  st.stepping = true;
  const r = await step(c, session, data);
  st.stepping = false;
  if (c.state !== ConnState.Connected || st.exchange !== session) return;
  if (r.kind === "continue") {
    c.send(authPacket(st.method, ReasonCode.ContinueAuthentication, r.data));
    return;
  }
  st.exchange = undefined;
  st.timer?.cancel();
  st.timer = undefined;
  if (r.kind === "success" && (r.username === undefined || st.identity === undefined || r.username === st.identity)) {
    st.identity ??= r.username;
    c.logger.info({ clientId: c.client?.clientId }, "re-authenticated");
    c.send(authPacket(st.method, ReasonCode.Success, r.data));
    return;
  }
  const failure: Extract<AuthStepResult, { kind: "failure" }> =
    r.kind === "failure"
      ? r
      : { kind: "failure", reasonCode: ReasonCode.NotAuthorized, reason: "re-authentication proved another identity" };
  logFailure(c, "re-authentication failed", failure);
  // [MQTT-4.12.1-2]: DISCONNECT and close; codes DISCONNECT cannot carry (0x86, 0x8C, …) become 0x87.
  const allowed = isReasonCodeAllowed(PacketType.DISCONNECT, failure.reasonCode) && failure.reasonCode >= 0x80;
  c.disconnect(allowed ? failure.reasonCode : DISCONNECT_FALLBACK, failureProperties(c, failure));
}
