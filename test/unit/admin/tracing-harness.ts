// Shared by the tracing tests: a real server with `tracing.enabled`, its spans in an InMemorySpanExporter, and
// MQTT.js 5.0 clients.
import mqtt from "mqtt";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { startServer, validateConfig, type WharfServer } from "../../../src/server/index.ts";
import { recordingLogger } from "../broker/harness.ts";

/** A W3C trace id and parent span id the tests' publishers send in `traceparent`. */
export const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
export const PARENT = "00f067aa0ba902b7";

export async function startTraced(
  t: { after(fn: () => unknown): void },
  sampleRatio: number,
  extra: Record<string, unknown> = {},
): Promise<{ server: WharfServer; exporter: InMemorySpanExporter }> {
  const exporter = new InMemorySpanExporter();
  const config = validateConfig({
    listeners: [{ host: "127.0.0.1", port: 0 }],
    storage: { type: "memory" },
    management: { enabled: false },
    sys: { interval: 0 },
    tracing: { enabled: true, sampleRatio },
    ...extra,
  });
  const server = await startServer(config, { logger: recordingLogger(), spanExporter: exporter });
  t.after(() => server.close());
  return { server, exporter };
}

export function client(server: WharfServer, clientId: string, extra: mqtt.IClientOptions = {}) {
  return mqtt.connectAsync({
    host: "127.0.0.1",
    port: server.listeners[0]!.port,
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    ...extra,
  });
}

export const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
