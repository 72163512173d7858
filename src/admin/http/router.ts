// A small router for the management server: routes are "METHOD /literal/:param/..." patterns, matched segment by
// segment (no regular expressions, no wildcards beyond whole segments). About 20 routes: a linear scan per request
// is cheaper than any tree at this size. A path that exists with another method answers 405 with `Allow`.
import type { IncomingHttpHeaders } from "node:http";
import { AdminError, AdminErrorCode } from "../errors.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Name of the token that authorized the call (authenticated routes only). */
  readonly principal: string | undefined;
  /** The JSON body (undefined when empty); rejects with BAD_REQUEST / PAYLOAD_TOO_LARGE. */
  json(): Promise<unknown>;
}

export interface JsonReply {
  readonly status?: number;
  readonly json: unknown;
  readonly headers?: Record<string, string>;
}

export interface RawReply {
  readonly status?: number;
  readonly body: string | Buffer;
  readonly contentType: string;
  readonly headers?: Record<string, string>;
}

export type Reply = JsonReply | RawReply;

export type Handler = (req: AdminRequest) => Reply | Promise<Reply>;

export interface RouteOptions {
  /** Needs a bearer token (default true: secure by default; health, metrics and static files opt out). */
  auth?: boolean;
  /** One line for the OpenAPI document's summary. */
  summary?: string;
}

export interface Route {
  readonly method: HttpMethod;
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly auth: boolean;
  readonly summary: string;
  readonly handler: Handler;
}

export interface RouteMatch {
  readonly route: Route;
  readonly params: Record<string, string>;
}

function split(path: string): string[] {
  return path.split("/").filter((s) => s !== "");
}

export class Router {
  readonly routes: Route[] = [];

  add(method: HttpMethod, pattern: string, handler: Handler, opts: RouteOptions = {}): this {
    this.routes.push({
      method,
      pattern,
      segments: split(pattern),
      auth: opts.auth ?? true,
      summary: opts.summary ?? "",
      handler,
    });
    return this;
  }

  /** The route for `method path`; throws NOT_FOUND, or METHOD_NOT_ALLOWED (with the allowed methods). */
  match(method: string, path: string): RouteMatch {
    let segments: string[];
    try {
      segments = split(path).map((s) => decodeURIComponent(s));
    } catch {
      throw new AdminError(AdminErrorCode.BadRequest, "malformed percent-encoding in the path");
    }
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, segments);
      if (params === undefined) continue;
      if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, params };
      allowed.push(route.method);
    }
    if (allowed.length > 0) {
      throw new AdminError(AdminErrorCode.MethodNotAllowed, `${method} not allowed here`, { allow: allowed });
    }
    throw new AdminError(AdminErrorCode.NotFound, `no route for ${method} ${path}`);
  }
}

function matchSegments(pattern: readonly string[], actual: readonly string[]): Record<string, string> | undefined {
  if (pattern.length !== actual.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const a = actual[i]!;
    if (p.startsWith(":")) params[p.slice(1)] = a;
    else if (p !== a) return undefined;
  }
  return params;
}
