// Shared pieces of the SCRAM tests: a credential derived once per file and a driver that plays a whole exchange the
// way the broker will (CONNECT data first, then each AUTH 0x18 data).
import assert from "node:assert/strict";
import type { AuthSession, AuthStepResult } from "../../../src/broker/auth/index.ts";
import { ScramClient } from "../../helpers/scram-client.ts";

export const CTX = { clientId: "client-1" } as const;

/** Authentication Data of a continue/success result, failing the test if the result is anything else. */
export function dataOf(r: AuthStepResult, kind: "continue" | "success"): Buffer {
  assert.equal(r.kind, kind, `expected ${kind}, got ${JSON.stringify(r)}`);
  assert.ok((r.kind === "continue" || r.kind === "success") && r.data, "result carries Authentication Data");
  return r.data;
}

export function assertFailure(r: AuthStepResult, reasonCode = 0x87): Extract<AuthStepResult, { kind: "failure" }> {
  assert.equal(r.kind, "failure", `expected failure, got ${JSON.stringify(r)}`);
  assert.equal(r.reasonCode, reasonCode);
  return r;
}

export interface ExchangeOutcome {
  first: AuthStepResult;
  final: AuthStepResult | undefined;
  clientFinal: Buffer | undefined;
}

/** client-first -> server-first -> client-final -> result; stops after the first step if it did not continue. */
export async function runExchange(session: AuthSession, client: ScramClient): Promise<ExchangeOutcome> {
  const first = await session.step(client.first());
  if (first.kind !== "continue" || !first.data) return { first, final: undefined, clientFinal: undefined };
  const clientFinal = client.final(first.data);
  return { first, final: await session.step(clientFinal), clientFinal };
}

/** Parses "k=v,k=v" (server-first) into a map. */
export function attrs(buf: Buffer): Map<string, string> {
  return new Map(
    buf
      .toString("utf8")
      .split(",")
      .map((p) => [p.slice(0, 1), p.slice(2)] as [string, string]),
  );
}
