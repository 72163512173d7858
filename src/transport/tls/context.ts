// TLS settings shared by the `tls` and `wss` listeners: reading the certificate files (again on reload), the
// server options (minimum version, ciphers, ALPN, client certificates) and the mapping of a verified client
// certificate to an MQTT user name.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type tls from "node:tls";
import { WharfError } from "../../util/index.ts";

export const TLS_MIN_VERSIONS = ["TLSv1.2", "TLSv1.3"] as const;
export type TlsMinVersion = (typeof TLS_MIN_VERSIONS)[number];
/** Which field of a verified client certificate becomes the MQTT user name ("none": the CONNECT's is used). */
export const CERT_USERNAME_SOURCES = ["none", "cn", "dns", "email", "uri"] as const;
export type CertUsernameSource = (typeof CERT_USERNAME_SOURCES)[number];

export interface TlsOptions {
  /** PEM certificate chain file (server certificate first). */
  cert: string;
  /** PEM private key file. */
  key: string;
  /** PEM CA bundle file: verifies client certificates (required with requireClientCert). */
  ca?: string;
  /** Passphrase of an encrypted private key. */
  passphrase?: string;
  /** Oldest protocol version accepted (default TLSv1.2). */
  minVersion?: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always the strong defaults); Node's default when absent. */
  ciphers?: string;
  /** mTLS: refuse clients without a certificate signed by `ca`. */
  requireClientCert?: boolean;
  /** mTLS: map the client certificate's CN or first SAN of a kind to the MQTT user name. */
  usernameFrom?: CertUsernameSource;
}

/** A certificate or key file that cannot be read or used; `field` names the option (`tls.cert`). */
export class TlsConfigError extends WharfError<"TLS_CONFIG_INVALID"> {
  override readonly name = "TlsConfigError";
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super("TLS_CONFIG_INVALID", `${field}: ${detail}`);
  }
}

function readPem(field: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsConfigError(field, `cannot read ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
}

/**
 * The secure-context part (files read now), for tls.createServer() and server.setSecureContext(). Also builds a
 * throwaway context so that a wrong passphrase or a key that does not match the certificate fails here, naming the
 * field, instead of at the first handshake.
 */
export function secureContextOptions(opts: TlsOptions, createContext: typeof tls.createSecureContext) {
  const ctx: tls.SecureContextOptions = {
    cert: readPem("tls.cert", opts.cert),
    key: readPem("tls.key", opts.key),
    minVersion: opts.minVersion ?? "TLSv1.2",
  };
  if (opts.ca !== undefined) ctx.ca = readPem("tls.ca", opts.ca);
  if (opts.passphrase !== undefined) ctx.passphrase = opts.passphrase;
  if (opts.ciphers !== undefined) ctx.ciphers = opts.ciphers;
  // Check each file on its own so that the error names the right key (OpenSSL's messages rarely say which).
  const check = (field: string, fn: () => unknown): void => {
    try {
      fn();
    } catch (err) {
      throw new TlsConfigError(field, (err as Error).message);
    }
  };
  check("tls.key", () => createPrivateKey({ key: ctx.key as Buffer, passphrase: opts.passphrase }));
  check("tls.cert", () => new X509Certificate(ctx.cert as Buffer));
  if (ctx.ca !== undefined) check("tls.ca", () => new X509Certificate(ctx.ca as Buffer));
  if (opts.ciphers !== undefined) check("tls.ciphers", () => createContext({ ciphers: opts.ciphers }));
  // Both readable: what is left is a key that does not belong to the certificate.
  check("tls.key", () => createContext(ctx));
  return ctx;
}

/** Everything tls.createServer() needs; `alpn` is ["mqtt"] for MQTT over TLS, ["http/1.1"] for wss. */
export function tlsServerOptions(
  opts: TlsOptions,
  alpn: readonly string[],
  createContext: typeof tls.createSecureContext,
): tls.TlsOptions {
  if (opts.requireClientCert === true && opts.ca === undefined) {
    throw new TlsConfigError("tls.ca", "requireClientCert needs a CA to verify client certificates with");
  }
  if ((opts.usernameFrom ?? "none") !== "none" && opts.requireClientCert !== true) {
    throw new TlsConfigError("tls.usernameFrom", "mapping a certificate to a user name needs requireClientCert: true");
  }
  return {
    ...secureContextOptions(opts, createContext),
    ALPNProtocols: [...alpn],
    requestCert: opts.requireClientCert === true,
    rejectUnauthorized: opts.requireClientCert === true,
    // A client that opens a socket and never finishes the handshake holds a slot: 10 s is plenty for a real one.
    handshakeTimeout: 10_000,
  };
}

/** Splits Node's subjectaltname string ('DNS:a, email:"x, y", URI:u') into [kind, value] pairs. */
export function parseSubjectAltName(san: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(":", i);
    if (colon < 0) break;
    const kind = san.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      // Node JSON-quotes values that contain a comma or quote.
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === "\\" ? 2 : 1;
      value = JSON.parse(san.slice(j, k + 1)) as string;
      j = k + 1;
    } else {
      const end = san.indexOf(",", j);
      value = san.slice(j, end < 0 ? san.length : end);
      j = end < 0 ? san.length : end;
    }
    out.push([kind, value]);
    i = san.indexOf(",", j);
    if (i < 0) break;
    i++;
  }
  return out;
}

const SAN_KIND = { dns: "DNS", email: "email", uri: "URI" } as const;

/** The user name a verified client certificate maps to, or undefined when it lacks the field. */
export function certificateUsername(cert: tls.PeerCertificate, from: CertUsernameSource): string | undefined {
  if (from === "none") return undefined;
  if (from === "cn") {
    const cn: unknown = cert.subject?.CN;
    const first = Array.isArray(cn) ? (cn[0] as unknown) : cn;
    return typeof first === "string" && first.length > 0 ? first : undefined;
  }
  const kind = SAN_KIND[from];
  const hit = parseSubjectAltName(cert.subjectaltname ?? "").find(([k]) => k === kind);
  return hit !== undefined && hit[1].length > 0 ? hit[1] : undefined;
}
