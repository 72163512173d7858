// The admin commands' management API client (src/cli/admin.ts `api`, on node:http): answers, API errors, a server
// that never answers, and URLs it cannot use. Real sockets on 127.0.0.1.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { test } from "node:test";
import { api } from "../../../src/cli/admin.ts";

async function listen(
  t: { after(fn: () => Promise<void>): void },
  server: Server | ReturnType<typeof createTcpServer>,
) {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return `http://127.0.0.1:${address.port}`;
}

test("api: the JSON body of a 2xx answer; the method, path and bearer token as sent", async (t) => {
  const seen: string[] = [];
  const url = await listen(
    t,
    createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? "-"}`);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok: true }));
    }),
  );
  assert.deepEqual(await api({ url, token: "tok" }, "DELETE", "/api/v1/retained/a%2Fb"), { ok: true });
  assert.deepEqual(await api({ url }, "GET", "/api/v1/broker"), { ok: true });
  assert.deepEqual(seen, ["DELETE /api/v1/retained/a%2Fb Bearer tok", "GET /api/v1/broker -"]);
});

test("api: a 4xx answer rejects with `<status> <CODE>: <message>`, a non-JSON one with its text", async (t) => {
  const url = await listen(
    t,
    createServer((req, res) => {
      res.statusCode = req.url === "/json" ? 404 : 502;
      res.end(
        req.url === "/json"
          ? JSON.stringify({ error: { code: "NOT_FOUND", message: "no such topic" } })
          : "bad gateway",
      );
    }),
  );
  await assert.rejects(api({ url }, "GET", "/json"), { message: "404 NOT_FOUND: no such topic" });
  await assert.rejects(api({ url }, "GET", "/text"), { message: "502 : bad gateway" });
});

test("api: a server that accepts and never answers is given up on after the timeout", async (t) => {
  const sockets: Socket[] = [];
  const server = createTcpServer((s) => sockets.push(s));
  t.after(async () => {
    for (const s of sockets) s.destroy();
  });
  const url = await listen(t, server);
  await assert.rejects(api({ url }, "GET", "/api/v1/broker", 200), /no answer within 0\.2 s/);
});

test("api: a URL that is not http: or https: is refused; a refused connection rejects", async () => {
  await assert.rejects(api({ url: "ftp://127.0.0.1:1" }, "GET", "/x"), /must be http: or https:/);
  const closed = createTcpServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const address = closed.address();
  assert.ok(address !== null && typeof address === "object");
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  await assert.rejects(api({ url: `http://127.0.0.1:${address.port}` }, "GET", "/x"), /ECONNREFUSED/);
});
