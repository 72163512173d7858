// startServer() from a config with the given listeners, memory storage and no $SYS; closed in t.after.
import { startServer, validateConfig, type WharfServer } from "../../src/server/index.ts";
import { recordingLogger } from "../unit/broker/harness.ts";

export async function configServer(
  t: { after(fn: () => unknown): void },
  listeners: object[],
  extra: object = {},
): Promise<WharfServer> {
  const s = await startServer(
    validateConfig({ listeners, storage: { type: "memory" }, sys: { interval: 0 }, ...extra }),
    { logger: recordingLogger() },
  );
  t.after(() => s.close());
  return s;
}
