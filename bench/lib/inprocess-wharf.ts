// A Wharf server in the calling process, configured as `npm run bench` runs the broker (default config, memory
// storage, log level warn, management on an ephemeral port): for the allocation tools (bench/tools/*-alloc.ts),
// which sample the heap of the process the broker runs in.
import { createLogger, loadConfig, startServer } from "../../src/server/index.ts";

export async function startInProcessWharf(): Promise<{ port: number; close: () => Promise<void> }> {
  const overrides = {
    listeners: [{ host: "127.0.0.1", port: 0 }],
    log: { level: "warn" as const },
    storage: { type: "memory" as const },
    management: { port: 0 },
  };
  const config = loadConfig(undefined, overrides);
  const server = await startServer(config, { logger: createLogger(config.log), overrides });
  const port = server.listeners.find((l) => l.type === "tcp")!.port;
  return { port, close: () => server.close() };
}
