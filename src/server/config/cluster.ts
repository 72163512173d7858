// The `cluster` section of the YAML config (docs/cluster.md): membership in etcd under a lease, and the address the
// node listens on for inter-node traffic. Its own module so that other sections' changes do not touch it.
import { anyStr, array, bool, int, object, oneOf, refine, str, type Infer } from "./schema.ts";

const U16 = 65_535;

/** PEM files for TLS towards etcd (https endpoints) or between nodes; "" = not used. */
const tlsFilesShape = {
  enabled: bool(false),
  caFile: anyStr(""),
  certFile: anyStr(""),
  keyFile: anyStr(""),
};

/** Node ids appear in etcd keys and in logs: letters, digits, `.`, `_`, `-`, at most 64 characters. */
export const NODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const clusterSchema = refine(
  object({
    enabled: bool(false),
    /** This node's id, unique in the cluster (required when enabled). */
    nodeId: anyStr(""),
    /** Key prefix in etcd: several clusters can share one etcd (`/wharf/<name>/...`). */
    name: str({ default: "wharf", check: (s) => (NODE_ID_RE.test(s) ? undefined : "[A-Za-z0-9._-]{1,64}") }),
    /**
     * Seconds of the node's etcd lease: a node that stops renewing it (crash, partition) leaves the cluster that much
     * later. etcd's own minimum is about 1.5 s with its default timings.
     */
    leaseTtl: int({ min: 2, max: 60, default: 3 }),
    etcd: object({
      /** `http://host:port` or `https://host:port` (then tls.enabled). */
      endpoints: array(str({ default: "", check: checkEndpoint }), ["http://127.0.0.1:2379"], { minItems: 1 }),
      /** Milliseconds to wait for an etcd call before trying again or giving up. */
      timeoutMs: int({ min: 100, max: 60_000, default: 5_000 }),
      tls: object(tlsFilesShape),
    }),
    /** Inter-node traffic (length-prefixed frames over TCP). Port 0 picks a free port (registered in etcd). */
    listen: object({
      host: str({ default: "127.0.0.1" }),
      port: int({ min: 0, max: U16, default: 7946 }),
    }),
    /** The host other nodes dial; "" = listen.host (set it when listening on 0.0.0.0). */
    advertiseHost: anyStr(""),
    /** TLS between nodes: every node presents certFile/keyFile and verifies its peers against caFile (mutual). */
    tls: object(tlsFilesShape),
    /** Seconds between runs of the leader task removing expired retained messages cluster-wide; 0 = never. */
    retainedSweepInterval: int({ min: 0, max: 86_400, default: 60 }),
    /** Durable `$queue/` queues across the nodes (docs/cluster-queues.md); every node must use the same values. */
    queues: object({
      /** `sync`: a publish is acknowledged once the slot's replicas have it; `async`: once its owner has it. */
      replication: oneOf(["sync", "async"] as const, "sync"),
      /** Copies of each slot besides its owner's. */
      replicas: int({ min: 1, max: 8, default: 1 }),
      /** Slots of the queue name space (a queue and its DLQ share one). */
      slots: int({ min: 1, max: 4096, default: 64 }),
      /** A sync publish fails (not acknowledged) after this many milliseconds without its replicas. */
      replicationTimeoutMs: int({ min: 100, max: 600_000, default: 10_000 }),
      /** A slot whose every in-sync copy is gone is claimed empty (logged as data loss) after this many ms. */
      orphanGraceMs: int({ min: 0, max: 86_400_000, default: 30_000 }),
    }),
  }),
  (c, path, issues) => {
    if (!c.enabled) return;
    if (!NODE_ID_RE.test(c.nodeId)) {
      const message = `expected a node id ([A-Za-z0-9._-]{1,64}) when cluster.enabled, got ${JSON.stringify(c.nodeId)}`;
      issues.push({ path: `${path}.nodeId`, message, value: c.nodeId });
    }
    if (c.listen.host === "0.0.0.0" || c.listen.host === "::") {
      if (c.advertiseHost === "") {
        const message = `expected a host other nodes can dial when listen.host is ${c.listen.host}`;
        issues.push({ path: `${path}.advertiseHost`, message, value: c.advertiseHost });
      }
    }
    for (const [where, tls] of [
      ["tls", c.tls],
      ["etcd.tls", c.etcd.tls],
    ] as const) {
      if (!tls.enabled) continue;
      // Between nodes TLS is always mutual: a node without a certificate is not a member.
      const needed = where === "tls" ? (["certFile", "keyFile", "caFile"] as const) : (["caFile"] as const);
      for (const k of needed) {
        if (tls[k] === "") {
          issues.push({
            path: `${path}.${where}.${k}`,
            message: `expected a PEM file when ${where}.enabled`,
            value: "",
          });
        }
      }
      if (where === "etcd.tls" && (tls.certFile === "") !== (tls.keyFile === "")) {
        const message = "expected certFile and keyFile together";
        issues.push({ path: `${path}.${where}.keyFile`, message, value: tls.keyFile });
      }
    }
    c.etcd.endpoints.forEach((e, i) => {
      if (e.startsWith("https://") !== c.etcd.tls.enabled) {
        const message = c.etcd.tls.enabled
          ? "expected an https:// endpoint with etcd.tls.enabled"
          : "expected an http:// endpoint (https:// needs etcd.tls.enabled)";
        issues.push({ path: `${path}.etcd.endpoints[${i}]`, message, value: e });
      }
    });
  },
);

function checkEndpoint(s: string): string | undefined {
  try {
    const u = new URL(s);
    if ((u.protocol === "http:" || u.protocol === "https:") && u.port !== "" && u.pathname === "/") return undefined;
  } catch {
    // reported below
  }
  return "an etcd endpoint like http://127.0.0.1:2379";
}

export type ClusterConfig = Infer<typeof clusterSchema>;
