// Offset paging for the admin API's lists: `?limit=` (1..1000, default 100) and `?offset=` (default 0). Lists are
// sorted by a stable key (client id, topic) so consecutive pages neither repeat nor skip items unless the set
// itself changes in between.
import { badRequest } from "../errors.ts";

export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

export interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

function intParam(query: URLSearchParams, name: string, min: number, max: number, dflt: number): number {
  const raw = query.get(name);
  if (raw === null) return dflt;
  if (!/^\d{1,10}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw badRequest(`query parameter ${name} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

export function page<S, T>(all: readonly S[], query: URLSearchParams, map: (s: S) => T): Page<T> {
  const limit = intParam(query, "limit", 1, MAX_PAGE, DEFAULT_PAGE);
  const offset = intParam(query, "offset", 0, Number.MAX_SAFE_INTEGER, 0);
  return { items: all.slice(offset, offset + limit).map(map), total: all.length, offset, limit };
}

/** `?name=true|false`, or undefined when absent. */
export function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (raw === "true") return true;
  if (raw === "false") return false;
  throw badRequest(`query parameter ${name} must be true or false, got ${JSON.stringify(raw)}`);
}

/** `?name=…` when present and not empty. */
export function strParam(query: URLSearchParams, name: string): string | undefined {
  const raw = query.get(name);
  return raw === null || raw === "" ? undefined : raw;
}
