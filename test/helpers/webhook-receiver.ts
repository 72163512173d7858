// A local HTTP receiver for webhook tests: records each POST's parsed body, headers and raw text.
import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface Batch {
  schemaVersion: number;
  events: { type: string; topic?: string; data: Record<string, unknown> }[];
}

export async function receiver(t: { after(fn: () => unknown): void }) {
  const batches: { body: Batch; headers: IncomingMessage["headers"]; raw: string }[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8").on("data", (c: string) => (raw += c));
    req.on("end", () => {
      batches.push({ body: JSON.parse(raw) as Batch, headers: req.headers, raw });
      res.end();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, batches };
}

export async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
