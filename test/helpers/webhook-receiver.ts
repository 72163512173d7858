// A local HTTP receiver for webhook tests: records each POST's parsed body, headers and raw text.
import { once } from "node:events";
import { createServer, type IncomingMessage, type RequestListener } from "node:http";
import type { AddressInfo } from "node:net";

export interface Batch {
  schemaVersion: number;
  events: { type: string; topic?: string; data: Record<string, unknown> }[];
}

type TestContext = { after(fn: () => unknown): void };

/**
 * An HTTP server on an ephemeral 127.0.0.1 port, closed with its connections when the test ends (a held or
 * keep-alive connection would otherwise keep `close()` waiting). Returns its base URL, without a trailing slash.
 */
export async function listenLocal(t: TestContext, handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function receiver(t: TestContext) {
  const batches: { body: Batch; headers: IncomingMessage["headers"]; raw: string }[] = [];
  const base = await listenLocal(t, (req, res) => {
    let raw = "";
    req.setEncoding("utf8").on("data", (c: string) => (raw += c));
    req.on("end", () => {
      batches.push({ body: JSON.parse(raw) as Batch, headers: req.headers, raw });
      res.end();
    });
  });
  return { url: `${base}/`, batches };
}

export async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
