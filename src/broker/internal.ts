// Internal access to a Broker's parts, for tests and in-repo tooling only (not exported from index.ts): the public
// Broker class exposes the documented API and nothing else, so embedders cannot reach the session registry, the
// router or persistence by accident. `brokerInternals(broker).sessions.get("id")` replaces what used to be the
// public `broker.sessions`.
import type { BrokerRuntime } from "./runtime.ts";

const runtimes = new WeakMap<object, BrokerRuntime>();

/** Called by the Broker constructor. */
export function registerInternals(owner: object, runtime: BrokerRuntime): void {
  runtimes.set(owner, runtime);
}

/** The runtime behind a Broker (its registry, router, persistence, counters…). Throws for anything else. */
export function brokerInternals(broker: object): BrokerRuntime {
  const rt = runtimes.get(broker);
  if (rt === undefined) throw new TypeError("not a Broker");
  return rt;
}
