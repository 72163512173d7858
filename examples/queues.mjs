// Durable queues in-process: a producer, two consumer groups, a nack retried by the queue, a reject to its DLQ.
import { createBroker } from "wharfmq";

const broker = await createBroker({ queues: [{ name: "jobs", retry: { initialBackoff: 10, maxBackoff: 10 } }] });
const prop = (m, key) => m.properties?.userProperties?.find(([k]) => k === key)?.[1];

// Group "mailers": the first attempt at "flaky" fails (nack), the queue redelivers it; "bad" is rejected.
const done = [];
broker.subscribe("$queue/jobs", {
  group: "mailers",
  ack: "manual",
  handler: (m) => {
    if (m.text() === "bad") m.reject("no such address");
    else if (m.text() === "flaky" && m.deliveryCount === 1) m.nack();
    else {
      done.push(`${m.text()}#${m.deliveryCount}`);
      m.ack();
    }
  },
});
// Group "audit" sees every message too (automatic acknowledgement).
const audit = [];
broker.subscribe("$queue/jobs", { group: "audit", handler: (m) => void audit.push(m.text()) });

for (const job of ["a", "flaky", "bad"]) {
  const { messageId } = await broker.publish("$queue/jobs", job, { partitionKey: "customer-1" });
  if (job === "a") console.log(`appended: ${/^\d+-\d+$/.test(messageId)}`);
}
const dlq = broker.subscribe("$queue/dlq/jobs");
for await (const dead of dlq) {
  console.log(`dead letter: ${dead.text()} (${prop(dead, "dlq-reason")})`);
  break;
}
while (done.length < 2) await new Promise((r) => setTimeout(r, 5));
console.log(`mailers: ${done.join(" ")}`);
console.log(`audit: ${audit.join(" ")}`);
const info = broker.core.queues.info("jobs");
console.log(`depth: ${info.depth}, acked: ${info.counters.acked}, nacked: ${info.counters.nacked}`);
await broker.close();

// prints: appended: true
// prints: dead letter: bad (rejected: no such address)
// prints: mailers: a#1 flaky#2
// prints: audit: a flaky bad
// prints: depth: 0, acked: 5, nacked: 1
