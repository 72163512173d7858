// The local control channel of `wharf queues` (docs/queues.md "Managing queues"): a unix socket `control.sock` in
// the data directory, mode 0600 — only the broker's OS user (and root) can manage queues, nothing is exposed on the
// network. One JSON request per line, one JSON response per line:
//   {"op":"ls"}  {"op":"stats","queue":"jobs"}  {"op":"purge","queue":"jobs"}
//   {"op":"redrive","queue":"jobs","limit":100}  {"op":"delete","queue":"jobs"}
// → {"ok":true,"result":…} or {"ok":false,"code":"QUEUE_NOT_FOUND","error":"…"}
import { chmodSync, existsSync, lstatSync, unlinkSync } from "node:fs";
import { connect, createServer } from "node:net";
import { resolve } from "node:path";
import type { Server, Socket } from "node:net";
import type { Broker } from "../broker/index.ts";
import { QueueError } from "../queues/index.ts";
import type { Logger } from "../util/index.ts";

export const CONTROL_SOCKET = "control.sock";
/** A request line longer than this closes the connection (a local client has no reason to send more). */
const MAX_LINE = 64 * 1024;

export interface ControlRequest {
  op: "ls" | "stats" | "purge" | "redrive" | "delete";
  queue?: string;
  limit?: number;
}

export function handleControl(broker: Broker, req: ControlRequest): unknown {
  const q = broker.queues;
  const name = (): string => {
    if (typeof req.queue !== "string" || req.queue === "") throw new QueueError("QUEUE_NOT_FOUND", "no queue named");
    return req.queue;
  };
  switch (req.op) {
    case "ls":
      return q.list();
    case "stats": {
      const info = q.info(name());
      if (info === undefined) throw new QueueError("QUEUE_NOT_FOUND", `no queue ${JSON.stringify(req.queue)}`);
      return info;
    }
    case "purge":
      return { purged: q.purge(name()) };
    case "redrive":
      return { moved: q.redrive(name(), typeof req.limit === "number" && req.limit > 0 ? req.limit : undefined) };
    case "delete":
      q.delete(name());
      return { deleted: req.queue };
    default:
      throw new Error(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
  }
}

export interface QueueControl {
  readonly path: string;
  close(): Promise<void>;
}

/**
 * The control socket's path for `storage.controlSocket`: `auto` = the data directory's (`inDataDir`, undefined
 * for memory storage), `off` = none, anything else = that path (relative to the working directory).
 */
export function controlSocketPath(setting: string, inDataDir: string | undefined): string | undefined {
  if (setting === "off") return undefined;
  if (setting === "auto") return inDataDir;
  return resolve(setting);
}

/** Is someone accepting connections on the unix socket at `path`? */
function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export async function startQueueControl(broker: Broker, path: string, logger: Logger): Promise<QueueControl> {
  // A socket file left by a broker that was killed is stale and replaced; one that still answers belongs to a running
  // broker (a memory-storage broker holds no data-directory lock, so two could be pointed at one path): refused.
  if (existsSync(path) && lstatSync(path).isSocket()) {
    if (await listening(path)) throw new Error(`another process is listening on ${path}`);
    unlinkSync(path);
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buf = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) {
        socket.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let reply: unknown;
        try {
          const req = JSON.parse(line) as ControlRequest;
          reply = { ok: true, result: handleControl(broker, req) };
          if (req.op !== "ls" && req.op !== "stats") logger.info({ op: req.op, queue: req.queue }, "queue control");
        } catch (err) {
          reply = {
            ok: false,
            code: err instanceof QueueError ? err.code : "CONTROL_BAD_REQUEST",
            error: err instanceof Error ? err.message : String(err),
          };
        }
        socket.write(JSON.stringify(reply) + "\n");
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
