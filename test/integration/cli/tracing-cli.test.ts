// Tracing through the `wharf` command itself: in `npm test` that is the CLI bundle the package ships
// (scripts/bundle-cli.mjs), which loads the OpenTelemetry SDK from node_modules on demand (src/admin/tracing-sdk.ts,
// createRequire from the bundle's own file) and POSTs spans through its undici worker (src/admin/http-worker.ts,
// undici resolved from the bundle's file as well). A bundle that broke either lookup would start and export nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mqttjs } from "../../helpers/clients.ts";
import { spawnWharf, writeTempFile } from "../../helpers/spawn-wharf.ts";
import { listenLocal, until } from "../../helpers/webhook-receiver.ts";

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number };
}
interface OtlpBody {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { spans: { traceId: string; name: string; attributes: OtlpAttribute[] }[] }[];
  }[];
}

test("wharf start with tracing on exports the spans of a PUBLISH over OTLP/HTTP JSON", async (t) => {
  const posts: { path: string; type: string | undefined; body: OtlpBody }[] = [];
  const base = await listenLocal(t, (req, res) => {
    let raw = "";
    req.setEncoding("utf8").on("data", (c: string) => (raw += c));
    req.on("end", () => {
      posts.push({ path: req.url ?? "", type: req.headers["content-type"], body: JSON.parse(raw) as OtlpBody });
      res.end();
    });
  });
  const config = writeTempFile(
    t,
    "wharf.yaml",
    [
      "tracing:",
      "  enabled: true",
      "  sampleRatio: 1",
      "  protocol: http/json",
      "  serviceName: cli-trace",
      `  endpoint: ${base}/v1/traces`,
      "",
    ].join("\n"),
  );
  const wharf = await spawnWharf(t, { args: ["--config", config] });
  const pub = await mqttjs(t, `mqtt://127.0.0.1:${wharf.port}`);
  await pub.client.publishAsync("traced/topic", "hello", { qos: 1 });
  await pub.client.endAsync();
  // Spans are exported in batches; the last batch goes out as the broker stops.
  assert.equal((await wharf.kill("SIGTERM")).code, 0, wharf.stderr());
  await until(() => posts.length > 0, 10_000);
  const post = posts[0]!;
  assert.equal(post.path, "/v1/traces");
  assert.match(post.type ?? "", /^application\/json/);
  const resources = post.body.resourceSpans;
  const service = resources[0]?.resource.attributes.find((a) => a.key === "service.name");
  assert.equal(service?.value.stringValue, "cli-trace");
  const spans = posts.flatMap((p) => p.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
  const published = spans.filter((s) =>
    s.attributes.some((a) => a.key === "messaging.destination.name" && a.value.stringValue === "traced/topic"),
  );
  assert.ok(published.length > 0, `a span names the topic: ${JSON.stringify(spans.map((s) => s.name))}`);
  assert.match(published[0]!.traceId, /^[0-9a-f]{32}$/);
});
