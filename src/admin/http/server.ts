// The management HTTP(S) server on node:http: one process-wide listener for health, metrics, the admin API and the
// dashboard. node:http plus the ~100-line router rather than a framework: about 20 JSON routes need no more, and it
// adds no dependency to audit or keep in step (docs/operations.md). Every error is JSON with a stable code.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { SecureContextOptions } from "node:tls";
import type { Logger } from "../../util/index.ts";
import type { TokenStore } from "../auth.ts";
import { AdminError, AdminErrorCode } from "../errors.ts";
import type { AdminRequest, Reply, Router } from "./router.ts";

/** Largest request body accepted (the API's bodies are small JSON documents). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ManagementTls extends SecureContextOptions {
  /** Ask for client certificates; with `rejectUnauthorized`, require a valid one (mTLS). */
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  tls?: ManagementTls | undefined;
  router: Router;
  tokens: TokenStore;
  logger: Logger;
}

export interface ManagementHttpServer {
  readonly host: string;
  readonly port: number;
  readonly protocol: "http" | "https";
  /** Replaces the TLS certificate/key for new connections (hot reload). */
  setSecureContext(tls: ManagementTls): void;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<ManagementHttpServer> {
  const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(opts, req, res);
  let server: Server;
  const secure = opts.tls !== undefined;
  if (opts.tls !== undefined) {
    const https = createHttpsServer({ ...opts.tls, minVersion: "TLSv1.2" }, handler);
    server = https;
  } else {
    server = createHttpServer(handler);
  }
  // Slowloris bounds: a client gets 10 s to send its headers, 30 s for the whole request.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  opts.logger.info({ host: address.address, port: address.port, tls: secure }, "management server started");
  let closing: Promise<void> | undefined;
  return {
    host: address.address,
    port: address.port,
    protocol: secure ? "https" : "http",
    setSecureContext(tls) {
      if (!("setSecureContext" in server)) throw new Error("the management server is not using TLS");
      (server as ReturnType<typeof createHttpsServer>).setSecureContext({ ...tls, minVersion: "TLSv1.2" });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive and streaming (dashboard) connections would hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(opts: HttpServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const method = req.method ?? "GET";
  try {
    const { route, params } = opts.router.match(method, url.pathname);
    const principal = route.auth ? opts.tokens.authenticate(req.headers.authorization) : undefined;
    const request: AdminRequest = {
      method,
      path: url.pathname,
      params,
      query: url.searchParams,
      headers: req.headers,
      principal,
      json: () => readJson(req),
    };
    const reply = await route.handler(request);
    if (principal !== undefined && method !== "GET") {
      opts.logger.info({ token: principal, method, path: url.pathname, status: reply.status ?? 200 }, "admin call");
    }
    send(res, reply, method === "HEAD");
  } catch (err) {
    const e =
      err instanceof AdminError
        ? err
        : new AdminError(AdminErrorCode.Internal, "internal error (see the broker log)", undefined);
    if (!(err instanceof AdminError))
      opts.logger.error({ err, method, path: url.pathname }, "management request failed");
    const headers: Record<string, string> = {};
    if (e.code === AdminErrorCode.Unauthorized) headers["www-authenticate"] = 'Bearer realm="wharf"';
    if (e.code === AdminErrorCode.MethodNotAllowed) {
      headers.allow = ((e.details as { allow: string[] }).allow ?? []).join(", ");
    }
    const body: Record<string, unknown> = { code: e.code, message: e.message };
    if (e.details !== undefined && e.code !== AdminErrorCode.MethodNotAllowed) body.details = e.details;
    send(res, { status: e.status, json: { error: body }, headers }, method === "HEAD");
  }
}

function send(res: ServerResponse, reply: Reply, headOnly: boolean): void {
  const isJson = "json" in reply;
  const body = isJson ? JSON.stringify(reply.json) : reply.body;
  res.statusCode = reply.status ?? 200;
  res.setHeader("content-type", isJson ? "application/json; charset=utf-8" : reply.contentType);
  res.setHeader("content-length", Buffer.byteLength(body));
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("cache-control", "no-store");
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  res.end(headOnly ? undefined : body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new AdminError(AdminErrorCode.PayloadTooLarge, `request body over ${MAX_BODY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  const type = req.headers["content-type"] ?? "";
  if (!type.startsWith("application/json")) {
    throw new AdminError(AdminErrorCode.BadRequest, "request body must be application/json");
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch (err) {
    throw new AdminError(AdminErrorCode.BadRequest, `invalid JSON body: ${(err as Error).message}`);
  }
}
