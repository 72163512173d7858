// The web dashboard: three static files (HTML, CSS, JS; no framework, no build step) read once at startup and
// served from memory. The page holds no data itself: it logs in with an admin token and calls /api/v1 like any
// client (docs/operations.md explains the choice).
import { readFileSync } from "node:fs";
import { notFound } from "./errors.ts";
import type { Router } from "./http/router.ts";

const FILES: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "app.css": "text/css; charset=utf-8",
  "mqtt-ws.js": "text/javascript; charset=utf-8",
};

/** Scripts and styles only from this server; MQTT over WebSocket may go to any ws listener. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

function read(name: string): Buffer {
  return readFileSync(new URL(`./dashboard/${name}`, import.meta.url));
}

export function dashboardRoutes(router: Router): void {
  const index = read("index.html");
  const files = new Map(Object.entries(FILES).map(([name, type]) => [name, { body: read(name), type }]));
  const headers = { "content-security-policy": CSP, "x-frame-options": "DENY", "referrer-policy": "no-referrer" };
  router.add("GET", "/", () => ({ body: index, contentType: "text/html; charset=utf-8", headers }), {
    auth: false,
    summary: "The web dashboard",
  });
  router.add(
    "GET",
    "/dashboard/:file",
    (req) => {
      const f = files.get(req.params.file!);
      if (f === undefined) throw notFound(`file ${JSON.stringify(req.params.file)}`);
      return { body: f.body, contentType: f.type, headers };
    },
    { auth: false, summary: "Dashboard static files" },
  );
}
