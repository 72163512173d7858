import assert from "node:assert/strict";
import os from "node:os";
import { test } from "node:test";
import { probeCpus, probeCpusLater } from "../../../bench/lib/cpu-probe.ts";

test("the CPU probe is NaN without pinning, and positive, finite figures on CPUs of this machine", async () => {
  assert.ok(Number.isNaN(probeCpus(null, null).iterNs));
  assert.ok(Number.isNaN((await probeCpusLater(0, null)).tripNs));
  // The same CPU twice: no round trip (it would wait for a time slice each way), the iteration still measured.
  const same = probeCpus(0, 0);
  assert.ok(same.iterNs > 0 && Number.isFinite(same.iterNs), `iteration: ${same.iterNs}`);
  assert.ok(Number.isNaN(same.tripNs));
  if (os.cpus().length < 2) return;
  for (const p of [probeCpus(0, 1), await probeCpusLater(0, 1)]) {
    assert.ok(p.iterNs > 0 && Number.isFinite(p.iterNs), `iteration: ${p.iterNs}`);
    assert.ok(p.tripNs > 0 && Number.isFinite(p.tripNs), `round trip: ${p.tripNs}`);
  }
});
