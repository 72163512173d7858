// `wharf queues ls|stats|purge|redrive|delete` against a running broker, over its local control socket
// (`control.sock` in the data directory, src/server/queue-control.ts), or over the management API (/api/v1/queues)
// when --url or --token (or WHARF_URL / WHARF_TOKEN) is given: the API works from another host and with a broker
// that has no data directory.
import { createConnection } from "node:net";
import { join } from "node:path";
import type { QueueInfo } from "../queues/index.ts";
import { api, type Conn } from "./admin.ts";
import { ExitCode } from "./program.ts";
import type { ActionResult, CliIo, QueuesFlags } from "./program.ts";

export const QUEUE_ACTIONS = ["ls", "stats", "purge", "redrive", "delete"] as const;
export type QueueAction = (typeof QUEUE_ACTIONS)[number];

interface Reply {
  ok: boolean;
  result?: unknown;
  code?: string;
  error?: string;
}

function request(path: string, req: object, timeoutMs = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as Reply);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    sock.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The same operation over the management API, answered in the control socket's shape. */
async function viaApi(c: Conn, action: QueueAction, queue: string, limit: number | undefined): Promise<Reply> {
  const path = `/api/v1/queues/${encodeURIComponent(queue)}`;
  try {
    switch (action) {
      case "ls": {
        const all: QueueInfo[] = [];
        for (let offset = 0; ; offset += 1000) {
          const page = (await api(c, "GET", `/api/v1/queues?limit=1000&offset=${offset}`)) as {
            items: QueueInfo[];
            total: number;
          };
          all.push(...page.items);
          if (page.items.length === 0 || all.length >= page.total) break;
        }
        return { ok: true, result: all };
      }
      case "stats":
        return { ok: true, result: await api(c, "GET", path) };
      case "purge":
        return { ok: true, result: await api(c, "POST", `${path}/purge`) };
      case "redrive":
        return {
          ok: true,
          result: await api(c, "POST", `${path}/redrive${limit === undefined ? "" : `?limit=${limit}`}`),
        };
      case "delete":
        return { ok: true, result: await api(c, "DELETE", path) };
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // `<status> <CODE>: <message>` from api(); a network error has no code.
    const m = /^\d{3} ([A-Z_]+): (.*)$/s.exec(msg);
    return m ? { ok: false, code: m[1], error: m[2] } : { ok: false, code: "UNREACHABLE", error: `${c.url}: ${msg}` };
  }
}

function table(queues: QueueInfo[]): string {
  const rows = [["QUEUE", "TYPE", "DEPTH", "INFLIGHT", "DLQ", "GROUPS", "CONSUMERS", "PUBLISHED", "ACKED"]];
  for (const q of queues) {
    rows.push([
      q.name,
      q.type,
      String(q.depth),
      String(q.inflight),
      String(q.dlqDepth),
      String(q.groups.length),
      String(q.groups.reduce((n, g) => n + g.consumers.length, 0)),
      String(q.counters.published),
      String(q.counters.acked),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

export async function queuesCommand(
  action: string,
  queue: string | undefined,
  flags: QueuesFlags,
  io: CliIo,
): Promise<ActionResult> {
  if (!(QUEUE_ACTIONS as readonly string[]).includes(action)) {
    io.err(`wharf queues: unknown action ${JSON.stringify(action)} (one of ${QUEUE_ACTIONS.join(", ")})\n`);
    return ExitCode.BadConfig;
  }
  if (action !== "ls" && (queue === undefined || queue === "")) {
    io.err(`wharf queues ${action}: name the queue\n`);
    return ExitCode.BadConfig;
  }
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) {
    io.err(`wharf queues: --limit must be a positive integer, got ${JSON.stringify(flags.limit)}\n`);
    return ExitCode.BadConfig;
  }
  let reply: Reply;
  const path = flags.socket ?? join(flags.dataDir ?? "./data", "control.sock");
  if (flags.url !== undefined || flags.token !== undefined) {
    const conn = { url: flags.url ?? "http://127.0.0.1:8080", token: flags.token };
    reply = await viaApi(conn, action as QueueAction, queue ?? "", limit);
  } else {
    try {
      reply = await request(path, { op: action, queue, limit });
    } catch (err) {
      io.err(
        `wharf queues: cannot reach the broker's control socket ${path}: ${err instanceof Error ? err.message : String(err)}\n` +
          "(is a broker with storage.type lmdb running on that data directory? see --data-dir / --socket)\n",
      );
      return ExitCode.Failure;
    }
  }
  if (!reply.ok) {
    io.err(`wharf queues ${action}: ${reply.error ?? "failed"} (${reply.code ?? "error"})\n`);
    return ExitCode.Failure;
  }
  const result = reply.result;
  if (flags.json === true || action === "stats") io.out(JSON.stringify(result, null, 2) + "\n");
  else if (action === "ls") io.out(table(result as QueueInfo[]));
  else if (action === "purge") io.out(`purged ${(result as { purged: number }).purged} messages from ${queue}\n`);
  else if (action === "redrive") io.out(`moved ${(result as { moved: number }).moved} dead letters back (${queue})\n`);
  else io.out(`deleted ${queue}\n`);
  return ExitCode.Ok;
}
