import { lmdbHarness } from "../../helpers/storage-harness.ts";
import { runConformance } from "./conformance.ts";

runConformance("lmdb", lmdbHarness);
