// Admin commands over the management API: `wharf status`, `wharf clients ls`, `wharf retained ls|rm`, and
// `wharf token` (a new admin token and the hash to put in management.tokens). --url / --token or the
// WHARF_URL / WHARF_TOKEN environment variables say where and as whom.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { Option, type Command } from "commander";
// The token helper only, not the admin layer's index (which loads the management server and prom-client).
import { generateToken } from "../admin/auth.ts";

/** program.ts imports this file, so its types and exit codes are restated here (structurally the same). */
interface CliIo {
  out(text: string): void;
  err(text: string): void;
}
type ActionResult = number | "running";
const ExitCode = { Ok: 0, Failure: 1 } as const;

export interface Conn {
  url: string;
  token?: string | undefined;
}

const urlOption = () =>
  new Option("--url <url>", "management server").env("WHARF_URL").default("http://127.0.0.1:8080");
const tokenOption = () => new Option("--token <token>", "admin token (see `wharf token`)").env("WHARF_TOKEN");

/** How long a command waits for the management API to answer (socket inactivity). */
const API_TIMEOUT_MS = 30_000;

/**
 * One management API call; a 4xx/5xx answer throws `<status> <CODE>: <message>`. Node's own HTTP client, not
 * undici: a command makes one request and exits, and loading undici (its index loads fetch, WebSocket, the cache
 * and every dispatcher) was ~0.15 of the 0.45 s of CPU a `wharf status` took (2026-12-07).
 */
export function api(
  c: Conn,
  method: "GET" | "POST" | "DELETE",
  path: string,
  timeoutMs = API_TIMEOUT_MS,
): Promise<unknown> {
  const url = new URL(path, c.url);
  const send = url.protocol === "https:" ? httpsRequest : url.protocol === "http:" ? httpRequest : undefined;
  if (send === undefined) return Promise.reject(new Error(`${c.url}: the management URL must be http: or https:`));
  const headers = c.token === undefined ? {} : { authorization: `Bearer ${c.token}` };
  return new Promise((resolve, reject) => {
    const req = send(url, { method, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
          reject(new Error(`${status} ${err?.code ?? ""}: ${err?.message ?? text}`));
        } else resolve(body);
      });
    });
    req.on("error", reject);
    // A server that accepts and never answers must not hang the command (undici's 300 s headersTimeout bounded it).
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${url.origin}: no answer within ${timeoutMs / 1000} s`)));
    req.end();
  });
}

function table(rows: (string | number | null)[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? "-").length)));
  return (
    rows
      .map((r) =>
        r
          .map((v, i) => String(v ?? "-").padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

export function addAdminCommands(program: Command, io: CliIo, onResult: (r: ActionResult) => void): void {
  const run = (fn: () => Promise<void>) => async () => {
    try {
      await fn();
      onResult(ExitCode.Ok);
    } catch (err) {
      io.err(`wharf: ${err instanceof Error ? err.message : String(err)}\n`);
      onResult(ExitCode.Failure);
    }
  };

  program
    .command("token")
    .description("print a new admin token and the hash to add under management.tokens")
    .action(() => {
      const { token, hash } = generateToken();
      io.out(`token: ${token}\nhash:  ${hash}\n\nmanagement:\n  tokens:\n    - { name: <who>, hash: "${hash}" }\n`);
      onResult(ExitCode.Ok);
    });

  program
    .command("status")
    .description("broker version, listeners and statistics (management API)")
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((o: Conn) =>
      run(async () => {
        const b = (await api(o, "GET", "/api/v1/broker")) as {
          version: string;
          listeners: { type: string; host: string; port: number }[];
          stats: Record<string, number>;
        };
        const s = b.stats;
        io.out(
          `wharf ${b.version}, up ${s.uptime} s\n` +
            `listeners: ${b.listeners.map((l) => `${l.type}://${l.host}:${l.port}`).join(", ")}\n` +
            `clients: ${s.clientsConnected} connected, ${s.clientsTotal} sessions (max ${s.clientsMaximum})\n` +
            `subscriptions: ${s.subscriptions}, retained: ${s.retained}, queued: ${s.queued}, in flight: ${s.inflight}\n` +
            `messages: ${s.messagesReceived} received, ${s.messagesSent} sent\n`,
        );
      })(),
    );

  const clients = program.command("clients").description("connected clients (management API)");
  clients
    .command("ls")
    .description("list connected clients")
    .addOption(urlOption())
    .addOption(tokenOption())
    .option("--prefix <prefix>", "only client ids starting with this")
    .option("--limit <n>", "at most this many (1..1000)", "100")
    .action((o: Conn & { prefix?: string; limit: string }) =>
      run(async () => {
        const q = new URLSearchParams({ limit: o.limit, ...(o.prefix === undefined ? {} : { prefix: o.prefix }) });
        const page = (await api(o, "GET", `/api/v1/clients?${q.toString()}`)) as {
          items: {
            clientId: string;
            username: string | null;
            protocolVersion: number;
            remoteAddress: string;
            subscriptions: number;
            queued: number;
          }[];
          total: number;
        };
        const rows = page.items.map((c) => [
          c.clientId,
          c.username,
          c.protocolVersion,
          c.remoteAddress,
          c.subscriptions,
          c.queued,
        ]);
        io.out(table([["CLIENT ID", "USER", "PROTO", "ADDRESS", "SUBS", "QUEUED"], ...rows]));
        io.out(`${page.items.length} of ${page.total}\n`);
      })(),
    );

  const retained = program.command("retained").description("retained messages (management API)");
  retained
    .command("ls")
    .description("list retained messages matching a topic filter")
    .addOption(urlOption())
    .addOption(tokenOption())
    .option("--filter <filter>", "topic filter", "#")
    .option("--limit <n>", "at most this many (1..1000)", "100")
    .action((o: Conn & { filter: string; limit: string }) =>
      run(async () => {
        const q = new URLSearchParams({ filter: o.filter, limit: o.limit });
        const page = (await api(o, "GET", `/api/v1/retained?${q.toString()}`)) as {
          items: { topic: string; qos: number; payloadSize: number; payload: string | null }[];
          total: number;
        };
        const rows = page.items.map((m) => [
          m.topic,
          m.qos,
          m.payloadSize,
          m.payload === null ? "(binary)" : m.payload.slice(0, 60),
        ]);
        io.out(table([["TOPIC", "QOS", "BYTES", "PAYLOAD"], ...rows]));
        io.out(`${page.items.length} of ${page.total}\n`);
      })(),
    );
  retained
    .command("rm")
    .description("delete the retained message of a topic")
    .argument("<topic>", "exact topic")
    .addOption(urlOption())
    .addOption(tokenOption())
    .action((topic: string, o: Conn) =>
      run(async () => {
        await api(o, "DELETE", `/api/v1/retained/${encodeURIComponent(topic)}`);
        io.out(`deleted retained message on ${topic}\n`);
      })(),
    );
}
