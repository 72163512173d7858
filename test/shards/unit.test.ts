// Every unit test file in this one process: see shard.ts for why the unit tests share a process.
import { runUnitTests } from "./shard.ts";

await runUnitTests();
