// An embedded broker (no listeners, memory storage) for in-process API tests, closed in t.after.
import type { TestContext } from "node:test";
import { createBroker, type CreateBrokerDeps, type BrokerConfigInput, type WharfBroker } from "../../../src/index.ts";
import { silentLogger } from "../../../src/util/index.ts";

export async function embedded(
  t: TestContext,
  deps: CreateBrokerDeps = {},
  config: BrokerConfigInput = {},
): Promise<WharfBroker> {
  const broker = await createBroker({ sys: { interval: 0 }, ...config }, { logger: silentLogger, ...deps });
  t.after(() => broker.close());
  return broker;
}

/** Lets queued microtasks and immediate callbacks run (deliveries are handed out on a microtask). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Reads `n` messages from an async iterator. */
export async function take<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const x of it) {
    out.push(x);
    if (out.length === n) break;
  }
  return out;
}

/** The next message of a subscription, leaving the subscription open (unlike `for await … break`). */
export async function next<T>(it: AsyncIterable<T>): Promise<T> {
  const r = await it[Symbol.asyncIterator]().next();
  if (r.done === true) throw new Error("the subscription ended");
  return r.value;
}
