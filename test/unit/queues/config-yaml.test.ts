// The `queues:` section of the YAML config: parsed into entries, bad keys named with their path and value.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, parseConfigText, validateConfig } from "../../../src/server/config/index.ts";
import { toBrokerOptions } from "../../../src/server/index.ts";

test("YAML queues: durations and nested keys parse; the broker options carry the entries", () => {
  const c = validateConfig(
    parseConfigText(`
queues:
  - name: "orders/#"
    partitions: 8
    ordering: partition
    deliveryTimeout: 250ms
    retry: { maxRetries: 3, initialBackoff: 5s, maxBackoff: 5m, totalTimeout: 168h }
    dlq: { topic: "$queue/dead/orders" }
    limits: { maxDepth: 1000, messageTtl: 1h }
  - name: audit
    type: stream
    retention: { maxAge: 7d, maxCount: 100 }
`),
  );
  assert.deepEqual(c.queues[0], {
    name: "orders/#",
    partitions: 8,
    ordering: "partition",
    deliveryTimeout: 250,
    retry: { maxRetries: 3, initialBackoff: 5000, maxBackoff: 300_000, totalTimeout: 604_800_000 },
    dlq: { topic: "$queue/dead/orders" },
    limits: { maxDepth: 1000, messageTtl: 3_600_000 },
  });
  assert.equal(c.queues[1]!.retention?.maxAge, 604_800_000);
  assert.deepEqual(toBrokerOptions(c).queues, c.queues);
});

test("YAML queues: every bad value is named with its path", () => {
  try {
    validateConfig(
      parseConfigText(`
queues:
  - name: jobs
    deliveryTimeout: soon
    partitions: 0
    dlq: { topic: "dead" }
`),
    );
    assert.fail("refused");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(
      err.errors.map((e) => e.path),
      ["queues[0].partitions", "queues[0].deliveryTimeout", "queues[0].dlq.topic"],
    );
    assert.match(err.message, /queues\[0\]\.deliveryTimeout/);
    assert.match(err.message, /"soon"/);
  }
});
