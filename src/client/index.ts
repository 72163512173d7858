// Client-side helpers (docs/queues.md): durable queue consume/enqueue on an MQTT.js 5.0 client.
export * from "./queues.ts";
