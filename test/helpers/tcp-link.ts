// A minimal TCP request/response link between test processes for the clustered queues (a stand-in for the cluster
// core's inter-node transport in the process tests): frames are [u32 length][u8 kind][u32 id][v8 payload].
// kind 1 = replication frame, 2 = queue request ({from, req}), 3 = reply. One outbound socket per peer, replies on
// the connection the request came in on; a request fails when its socket closes or after `timeoutMs`.
import { createServer, connect } from "node:net";
import type { Server, Socket } from "node:net";
import { deserialize, serialize } from "node:v8";
import type {
  QueueLink,
  QueueReply,
  QueueRequest,
  ReplicaLink,
  ReplicationAck,
  ReplicationFrame,
} from "../../src/cluster/queues/index.ts";

export interface TcpLinkHandlers {
  frame(f: ReplicationFrame): ReplicationAck;
  request(from: string, req: QueueRequest): Promise<QueueReply>;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

function reader(sock: Socket, onFrame: (kind: number, id: number, body: Buffer) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  sock.on("data", (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      const kind = buf.readUInt8(4);
      const id = buf.readUInt32BE(5);
      const body = buf.subarray(9, 4 + len);
      buf = buf.subarray(4 + len);
      onFrame(kind, id, body);
    }
  });
}

/** Frames written in one tick go out in one write (cork until the next tick): the per-peer batching. */
function write(sock: Socket, kind: number, id: number, payload: unknown): void {
  const body = serialize(payload);
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + body.length, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(id, 5);
  if (sock.writableCorked === 0) {
    sock.cork();
    process.nextTick(() => sock.uncork());
  }
  sock.write(head);
  sock.write(body);
}

export class TcpLink implements ReplicaLink, QueueLink {
  readonly #server: Server;
  readonly #out = new Map<string, Socket>();
  readonly #pending = new Map<Socket, Map<number, Pending>>();
  #id = 0;
  handlers: TcpLinkHandlers | undefined;

  constructor(
    readonly self: string,
    readonly peers: Record<string, number>,
    readonly timeoutMs = 5000,
  ) {
    this.#server = createServer((sock) => {
      sock.setNoDelay(true);
      sock.on("error", () => undefined);
      reader(sock, (kind, id, body) => {
        const h = this.handlers;
        if (h === undefined) return;
        if (kind === 1) write(sock, 3, id, h.frame(deserialize(body) as ReplicationFrame));
        else if (kind === 2) {
          const { from, req } = deserialize(body) as { from: string; req: QueueRequest };
          void h.request(from, req).then((rep) => write(sock, 3, id, rep));
        }
      });
    });
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => resolve());
    });
  }

  send(node: string, frame: ReplicationFrame): Promise<ReplicationAck> {
    return this.#call(node, 1, frame) as Promise<ReplicationAck>;
  }

  request(node: string, req: QueueRequest): Promise<QueueReply> {
    return this.#call(node, 2, { from: this.self, req }) as Promise<QueueReply>;
  }

  #socket(node: string): Socket | undefined {
    let s = this.#out.get(node);
    if (s !== undefined && !s.destroyed) return s;
    const port = this.peers[node];
    if (port === undefined) return undefined;
    s = connect(port, "127.0.0.1");
    s.setNoDelay(true);
    const pending = new Map<number, Pending>();
    this.#pending.set(s, pending);
    this.#out.set(node, s);
    const sock = s;
    const fail = (): void => {
      if (this.#out.get(node) === sock) this.#out.delete(node);
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`connection to ${node} closed`));
      }
      pending.clear();
    };
    s.on("error", fail);
    s.on("close", fail);
    reader(s, (kind, id, body) => {
      const p = pending.get(id);
      if (kind !== 3 || p === undefined) return;
      pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(deserialize(body));
    });
    return s;
  }

  #call(node: string, kind: number, payload: unknown): Promise<unknown> {
    const s = this.#socket(node);
    if (s === undefined) return Promise.reject(new Error(`unknown node ${node}`));
    const pending = this.#pending.get(s)!;
    const id = ++this.#id >>> 0;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`request to ${node} timed out`));
        s.destroy(); // a peer that does not answer (paused, dead): start over with a new connection
      }, this.timeoutMs);
      pending.set(id, { resolve, reject, timer });
      write(s, kind, id, payload);
    });
  }

  close(): void {
    this.#server.close();
    for (const s of this.#out.values()) s.destroy();
  }
}
