// A listener's address, on its own: the package entry ("wharfmq") names this type in WharfBroker, and importing it
// from ./index.ts made the entry's declarations pull in the whole composition root (admin, cluster, etcd3, gRPC and
// the OpenTelemetry SDK types) into every TypeScript consumer's program.

/** A listener's address as logged in the startup "listening" line. */
export interface ListenerAddress {
  type: string;
  host: string;
  port: number;
}
