// The public Broker is a thin facade: the documented API and nothing internal (issue 9). Internals are reachable
// only through src/broker/internal.ts, which index.ts does not export.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as api from "../../../src/broker/index.ts";
import { Broker } from "../../../src/broker/index.ts";
import { brokerInternals } from "../../../src/broker/internal.ts";

test("Broker exposes only the documented API", async () => {
  const members = Object.getOwnPropertyNames(Broker.prototype).sort();
  assert.deepEqual(members, [
    "accept",
    "addSysTopics", // more $SYS topics: the server's listeners (docs/broker.md)
    "close",
    "connectionCount",
    "constructor",
    "id",
    "options",
    "publish",
    "queues", // durable queues' management API (docs/queues.md)
    "ready",
    "reconfigure", // live options at runtime (docs/broker.md)
    "recovery",
    "redirect",
    "serverRedirect",
    "setAuthHooks", // the server's auth chain after a reload
    "setDeliveryLatency", // the publish-to-delivery latency seam (src/broker/latency.ts, docs/broker.md)
    "setTracer", // the tracing seam (src/broker/tracing.ts, docs/operations.md "Tracing")
    "stats",
    "subscriptionsOf",
  ]);
  const b = new Broker({ sysInterval: 0 });
  assert.deepEqual(Object.keys(b), [], "no public instance fields");
  for (const internal of ["openSession", "sessions", "persistence", "flusher", "subscribe", "router", "counters"]) {
    assert.equal(internal in b, false, internal);
  }
  assert.equal("brokerInternals" in api, false, "internal.ts is not part of the public index");
  assert.equal(brokerInternals(b).sessions.size, 0, "tests reach the internals through internal.ts");
  assert.throws(() => brokerInternals({}), TypeError);
  await b.close();
});

test("assigned client ids carry the broker instance id, so two brokers never assign the same one", () => {
  const a = new Broker({ sysInterval: 0 });
  const b = new Broker({ sysInterval: 0 });
  const ia = brokerInternals(a).assignClientId();
  const ib = brokerInternals(b).assignClientId();
  assert.ok(ia.startsWith(`wharf-${a.id}-`), ia);
  assert.ok(ib.startsWith(`wharf-${b.id}-`), ib);
  assert.notEqual(ia, ib);
  assert.match(a.id, /^[0-9a-f]{12}$/);
});
