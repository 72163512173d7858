// The cluster layer (docs/cluster.md): membership in etcd and the inter-node transport. It may import the broker,
// queues, storage, util, codec and topics; nothing below it imports it. The composition root (src/server) wires it.
export * from "./errors.ts";
export * from "./keys.ts";
export * from "./etcd.ts";
export * from "./membership.ts";
export { Listeners } from "./listeners.ts";
export * from "./node.ts";
export * from "./transport/index.ts";
export * from "./routing/index.ts";
export * from "./leader.ts";
export * from "./leader-tasks.ts";
export * from "./sessions/index.ts";
