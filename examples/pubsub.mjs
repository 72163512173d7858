// In-process publish/subscribe, priority, TTL, manual acknowledgement with a dead-letter topic, a transaction, a
// synchronous listener.
import { createBroker } from "wharfmq";

const broker = await createBroker(); // no listeners: purely in-process

// A handler subscription and an iterated one.
const seen = [];
broker.subscribe("sensors/+/temp", { handler: (m) => void seen.push(`${m.topic}=${m.text()}`) });
const alerts = broker.subscribe("alerts/#", { bufferSize: 100 });

await broker.publish("sensors/kitchen/temp", "21.5");
await broker.publish("alerts/low", "disk 80%", { priority: 2 });
await broker.publish("alerts/high", "disk 99%", { priority: 9 });
await broker.publish("alerts/stale", "gone soon", { ttl: 60_000 });
await new Promise((r) => setImmediate(r));
console.log(seen.join(", "));

// Buffered messages come out highest priority first.
const order = [];
for await (const m of alerts) {
  order.push(`${m.text()} (p${m.priority})`);
  if (order.length === 3) break; // ends the subscription
}
console.log(order.join(" | "));

// Manual acknowledgement: a rejected message goes to $DLQ/<topic> with the reason.
const dlq = broker.subscribe("$DLQ/#");
const orders = broker.subscribe("orders/+", {
  ack: "manual",
  handler: (m) => (m.text() === "bad" ? m.reject("validation failed") : m.ack()),
});
await broker.publish("orders/1", "good", { qos: 1 });
await broker.publish("orders/2", "bad", { qos: 1 });
for await (const dead of dlq) {
  const reason = dead.properties?.userProperties?.find(([k]) => k === "dlq-reason")?.[1];
  console.log(`dead letter: ${dead.topic} ${dead.text()} (${reason})`);
  break;
}
console.log(`dead letters: ${broker.deadLetters.stats().total}`);
await orders.unsubscribe();

// A transaction: all or nothing, visible at commit.
const ledger = [];
broker.subscribe("ledger/#", { qos: 1, handler: (m) => void ledger.push(m.text()) });
const tx = broker.transaction();
tx.publish("ledger/debit", "-10", { qos: 1 });
tx.publish("ledger/credit", "+10", { qos: 1 });
await new Promise((r) => setImmediate(r));
console.log(`before commit: ${ledger.length}`);
await tx.commit();
await new Promise((r) => setImmediate(r));
console.log(`after commit: ${ledger.join(" ")}`);

// A synchronous listener: called inside publish() (no buffer, no acknowledgement, at most once).
const latest = new Map();
const listener = broker.listen("sensors/#", (m) => latest.set(m.topic, m.text()));
const routed = broker.publish("sensors/hall/temp", "19");
console.log(`listened before publish() resolved: ${latest.get("sensors/hall/temp")}`);
await routed;
listener.unsubscribe();

console.log(`health: ${broker.health().status}`);
await broker.close();

// prints: sensors/kitchen/temp=21.5
// prints: disk 99% (p9) | gone soon (p4) | disk 80% (p2)
// prints: dead letter: $DLQ/orders/2 bad (validation failed)
// prints: dead letters: 1
// prints: before commit: 0
// prints: after commit: -10 +10
// prints: listened before publish() resolved: 19
// prints: health: ok
