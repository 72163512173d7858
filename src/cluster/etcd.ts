// The etcd client from the cluster options (the `etcd3` package: gRPC to etcd's v3 API).
import { readFileSync } from "node:fs";
import { Etcd3 } from "etcd3";
import type { IOptions } from "etcd3";

export interface EtcdOptions {
  readonly endpoints: readonly string[];
  /** Deadline of each unary call. */
  readonly timeoutMs: number;
  readonly tls: {
    readonly enabled: boolean;
    readonly caFile: string;
    readonly certFile: string;
    readonly keyFile: string;
  };
}

export function connectEtcd(o: EtcdOptions): Etcd3 {
  const opts: IOptions = {
    hosts: [...o.endpoints],
    dialTimeout: o.timeoutMs,
    // Streams (watch, lease keepalive) have no deadline; unary calls do, so a dead etcd fails a call in timeoutMs.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.timeoutMs }),
  };
  if (o.tls.enabled) {
    opts.credentials = {
      rootCertificate: readFileSync(o.tls.caFile),
      ...(o.tls.certFile === ""
        ? {}
        : { certChain: readFileSync(o.tls.certFile), privateKey: readFileSync(o.tls.keyFile) }),
    };
  }
  return new Etcd3(opts);
}
