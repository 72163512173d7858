// `wharf queues ls|stats|purge|redrive|delete` against a running broker, over its local control socket
// (`control.sock` in the data directory, src/server/queue-control.ts).
import { createConnection } from "node:net";
import { join } from "node:path";
import type { QueueInfo } from "../queues/index.ts";
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
  const path = flags.socket ?? join(flags.dataDir ?? "./data", "control.sock");
  let reply: Reply;
  try {
    reply = await request(path, { op: action, queue, limit });
  } catch (err) {
    io.err(
      `wharf queues: cannot reach the broker's control socket ${path}: ${err instanceof Error ? err.message : String(err)}\n` +
        "(is a broker with storage.type lmdb running on that data directory? see --data-dir / --socket)\n",
    );
    return ExitCode.Failure;
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
