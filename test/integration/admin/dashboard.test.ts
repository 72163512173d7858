// The web dashboard in a real headless Chromium (playwright-core, Debian's /usr/bin/chromium): log in with an admin
// token, see a client connected by MQTT.js appear, publish from the topic tester over MQTT-over-WebSocket and see it
// arrive (in the page and at an MQTT.js subscriber), see a dead letter on the queues page and redrive it.
// Screenshots go to test-artifacts/ when a step fails, and of every step to $WHARF_SCREENSHOTS when that is set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import type { Page } from "playwright-core";
import { launchChromium } from "../../helpers/chromium.ts";
import { generateToken } from "../../../src/admin/index.ts";
import { startServer, validateConfig } from "../../../src/server/index.ts";
import { recordingLogger } from "../../unit/broker/harness.ts";

async function step<T>(page: Page, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    const out = await fn();
    const keep = process.env.WHARF_SCREENSHOTS;
    if (keep !== undefined && keep !== "") {
      mkdirSync(keep, { recursive: true });
      await page.screenshot({ path: join(keep, `dashboard-${name}.png`), fullPage: true });
    }
    return out;
  } catch (err) {
    const dir = join(process.cwd(), "test-artifacts");
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `dashboard-${name}.png`), fullPage: true }).catch(() => undefined);
    throw err;
  }
}

test("dashboard: log in, a client appears, the topic tester publishes over WebSocket, a DLQ message is redriven", async (t) => {
  const { token, hash } = generateToken();
  const config = validateConfig({
    listeners: [
      { host: "127.0.0.1", port: 0 },
      { type: "ws", host: "127.0.0.1", port: 0 },
    ],
    storage: { type: "memory" },
    sys: { interval: 0 },
    management: { port: 0, tokens: [{ name: "ui", hash }] },
    queues: [{ name: "jobs", retry: { maxRetries: 0 } }],
  });
  const server = await startServer(config, { logger: recordingLogger() });
  t.after(() => server.close());
  const tcpPort = server.listeners[0]!.port;
  const context = await launchChromium(t);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${server.management!.http.port}/`);

  await step(page, "login-refused", async () => {
    await page.getByLabel("Admin token").fill("wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "invalid token" }).waitFor({ timeout: 10_000 });
  });
  await step(page, "login", async () => {
    await page.getByLabel("Admin token").fill(token);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Overview" }).waitFor({ timeout: 10_000 });
  });

  const client = await mqtt.connectAsync({
    host: "127.0.0.1",
    port: tcpPort,
    clientId: "dash-client",
    reconnectPeriod: 0,
  });
  t.after(() => client.end(true));
  await client.subscribeAsync("dash/#");
  const received = new Promise<string>((resolve) =>
    client.on("message", (topic, p) => resolve(`${topic}=${p.toString()}`)),
  );
  await step(page, "clients", async () => {
    await page.getByRole("button", { name: "Clients" }).click();
    await page.locator('tr[data-client-id="dash-client"]').waitFor({ timeout: 10_000 });
    // The header row is built from the table's data-columns; the last column is named for screen readers only.
    const headers = await page.locator("#clients thead th").allTextContents();
    assert.deepEqual(headers, [
      "Client id",
      "User",
      "Protocol",
      "Address",
      "Subscriptions",
      "Queued",
      "In flight",
      "Actions",
    ]);
  });

  await step(page, "tester", async () => {
    await page.getByRole("button", { name: "Topic tester" }).click();
    await page.getByRole("status").filter({ hasText: "Connected to ws://" }).waitFor({ timeout: 10_000 });
    await page.getByLabel("Subscribe to").fill("dash/#");
    await page.getByRole("button", { name: "Subscribe" }).click();
    // A subscription is in place once the broker lists two subscribers of dash/#.
    for (let i = 0; i < 100 && server.broker.stats().subscriptions < 2; i++) await page.waitForTimeout(50);
    await page.getByLabel("Topic", { exact: true }).fill("dash/hello");
    await page.getByLabel("Payload").fill("from the dashboard");
    await page.getByRole("button", { name: "Publish" }).click();
    await page.locator("#tester-log li", { hasText: "dash/hello: from the dashboard" }).waitFor({ timeout: 10_000 });
  });
  assert.equal(await received, "dash/hello=from the dashboard");

  // A dead letter: an MQTT.js 5.0 worker rejects the only message of `jobs`, then leaves.
  const worker = await mqtt.connectAsync({
    host: "127.0.0.1",
    port: tcpPort,
    clientId: "dash-worker",
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  t.after(() => worker.end(true));
  worker.on("message", (_topic, _p, packet) => {
    const id = packet.properties?.userProperties?.["message-id"];
    void worker.publishAsync("$queue/jobs/$reject", "", {
      qos: 1,
      properties: { userProperties: { "message-id": id! } },
    });
  });
  await worker.subscribeAsync("$queue/jobs", { qos: 1 });
  await worker.publishAsync("$queue/jobs", "job-1", { qos: 1 });
  for (let i = 0; i < 200 && server.broker.queues.info("dlq/jobs")?.depth !== 1; i++) await page.waitForTimeout(25);
  await worker.unsubscribeAsync("$queue/jobs");
  assert.equal(server.broker.queues.info("dlq/jobs")?.depth, 1);
  assert.equal(server.broker.queues.info("jobs")?.depth, 0);

  const row = page.locator('tr[data-queue="jobs"]');
  await step(page, "queues-dlq", async () => {
    await page.getByRole("button", { name: "Queues" }).click();
    await row.getByRole("cell", { name: "1 (dlq/jobs)" }).waitFor({ timeout: 10_000 });
  });
  await step(page, "queues-redriven", async () => {
    await row.getByRole("button", { name: "Redrive the dead letters of jobs" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: "Moved 1 dead letters back to jobs." })
      .waitFor({ timeout: 10_000 });
    // The page refreshes: the DLQ is empty (no redrive button) and the message is back in jobs.
    await row.getByRole("cell", { name: "0 (dlq/jobs)" }).waitFor({ timeout: 10_000 });
    assert.equal(await row.getByRole("button").count(), 0);
  });
  assert.equal(server.broker.queues.info("dlq/jobs")?.depth, 0);
  assert.deepEqual(
    server.broker.queues.peek("jobs").map((m) => m.record.payload.toString()),
    ["job-1"],
  );
  assert.deepEqual(errors, []);
});
