// Short fuzz run in the normal suite; `npm run fuzz` runs millions (test/fuzz/run-fuzz.ts).
import assert from "node:assert/strict";
import { it } from "node:test";
import { runFuzz } from "../../helpers/codec-fuzz.ts";
import { CodecErrorCode } from "../../../src/codec/index.ts";

const COUNT = 200_000;

it(`decoder survives ${COUNT} random and mutated inputs in random chunkings: only packets or CodecError, bounded steps, bufferedBytes <= maxPacketSize, accepted packets re-encode stably`, () => {
  const t0 = process.hrtime.bigint();
  const stats = runFuzz(20240601, COUNT);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(
    `codec fuzz: ${stats.inputs} inputs, ${stats.bytes} bytes, ${stats.packets} packets, ${stats.codecErrors} CodecErrors ${JSON.stringify(stats.byCode)}, ${stats.incomplete} incomplete, ${ms.toFixed(0)} ms`,
  );
  assert.equal(stats.inputs, COUNT);
  // The mutations must reach both outcomes and several error kinds, or the fuzzer tests nothing.
  assert.ok(stats.packets > COUNT / 10);
  assert.ok(stats.codecErrors > COUNT / 10);
  for (const code of [
    CodecErrorCode.MalformedPacket,
    CodecErrorCode.ProtocolError,
    CodecErrorCode.PacketTooLarge,
    CodecErrorCode.UnsupportedProtocolVersion,
  ]) {
    assert.ok((stats.byCode[code] ?? 0) > 0, `fuzzing produced ${code}`);
  }
});
