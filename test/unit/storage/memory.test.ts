import { memoryHarness } from "../../helpers/storage-harness.ts";
import { runConformance } from "./conformance.ts";

runConformance("memory", memoryHarness);
