// The `queues:` section of the YAML config (docs/queues.md): a list of queue entries, each matching a queue name or a
// pattern with `+`/`#`, validated by the queue layer (every bad key reported with its path and the value found).
import { parseQueueEntries } from "../../queues/index.ts";
import type { QueueConfigEntry } from "../../queues/index.ts";
import type { Schema } from "./schema.ts";

export const queuesSchema: Schema<QueueConfigEntry[]> = {
  describe: "a list of queue entries (docs/queues.md)",
  defaultValue: [],
  parse(input, path, issues) {
    const r = parseQueueEntries(input, path);
    issues.push(...r.issues);
    return r.entries;
  },
};
