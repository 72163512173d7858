import assert from "node:assert/strict";
import { test } from "node:test";
import {
  DEFAULT_QUEUE_SETTINGS,
  backoffDelay,
  dlqNameOf,
  formatDuration,
  parseDuration,
  parseQueueEntries,
  resolveQueueSettings,
} from "../../../src/queues/index.ts";

test("durations: 250ms, 5s, 5m, 168h, 7d and plain milliseconds; garbage is refused", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("5s"), 5000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("168h"), 604_800_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration(1200), 1200);
  for (const bad of ["", "5", "5 minutes", "-5s", "5x", "ms", null, {}, -1, Number.NaN]) {
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
  }
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(1500), "1500ms");
});

test("config: every bad key is reported with its path and value; good entries are kept", () => {
  const { entries, issues } = parseQueueEntries([
    { name: "orders", partitions: 8, ordering: "partition", deliveryTimeout: "5s", retry: { maxRetries: 2 } },
    { name: "bad/#/x" },
    { name: "jobs", type: "fifo", retry: { initialBackoff: "soon", multiplier: 0.5 }, limits: { maxDepth: -1 } },
    { name: "x", deliveryTimeout: "0ms", extra: 1 },
    { name: "orders" },
    { name: "y", retry: { initialBackoff: "10s", maxBackoff: "1s" } },
  ]);
  assert.deepEqual(
    entries.map((e) => e.name),
    ["orders"],
  );
  assert.equal(entries[0]!.deliveryTimeout, 5000);
  const paths = issues.map((i) => i.path);
  assert.deepEqual(paths, [
    "queues[1].name",
    "queues[2].type",
    "queues[2].retry.multiplier",
    "queues[2].retry.initialBackoff",
    "queues[2].limits.maxDepth",
    "queues[3].extra",
    "queues[3].deliveryTimeout",
    "queues[4].name",
    "queues[5].retry.maxBackoff",
  ]);
  assert.match(issues[1]!.message, /one of classic, stream, got "fifo"/);
  assert.equal(parseQueueEntries("nope").issues[0]!.path, "queues");
});

test("config: exact name beats patterns, first matching pattern wins, defaults fill the rest", () => {
  const { entries } = parseQueueEntries([
    { name: "jobs/#", prefetch: 4 },
    { name: "jobs/+", prefetch: 8 },
    { name: "jobs/email", ordering: "strict", partitions: 4, retry: { maxRetries: 1 } },
  ]);
  assert.equal(resolveQueueSettings(entries, "jobs/sms").prefetch, 4);
  const email = resolveQueueSettings(entries, "jobs/email");
  assert.equal(email.prefetch, DEFAULT_QUEUE_SETTINGS.prefetch);
  assert.equal(email.partitions, 1, "strict: one partition");
  assert.equal(email.retry.maxRetries, 1);
  assert.equal(email.retry.initialBackoff, DEFAULT_QUEUE_SETTINGS.retry.initialBackoff);
  assert.deepEqual(resolveQueueSettings(entries, "other"), DEFAULT_QUEUE_SETTINGS);
  assert.equal(dlqNameOf("jobs/sms", resolveQueueSettings(entries, "jobs/sms")), "dlq/jobs/sms");
  const dlq = resolveQueueSettings(entries, "dlq/jobs/sms");
  assert.equal(dlq.dlq.enabled, false, "a DLQ has no DLQ of its own");
});

test("backoff: initial × multiplier^n with equal jitter, capped at maxBackoff", () => {
  const policy = { initialBackoff: 1000, maxBackoff: 10_000, multiplier: 2 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(policy, n, () => 0)),
    [500, 1000, 2000, 4000, 5000, 5000],
  );
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => backoffDelay(policy, n, () => 0.999999)),
    [1000, 2000, 4000, 8000, 10_000],
  );
  assert.equal(
    backoffDelay(policy, 5000, () => 0.5),
    7500,
    "huge exponents stay capped",
  );
});
