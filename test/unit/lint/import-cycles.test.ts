// scripts/import-cycles.mjs, behind the `wharf/no-import-cycle` lint rule: finds value and type-only cycles, and
// src/ has none.
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
// @ts-expect-error: a plain .mjs script without type declarations
import { cyclesOf, findCycles, importGraph } from "../../../scripts/import-cycles.mjs";

interface Found {
  members: string[];
  cycle: string[];
}

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "wharf-cycles-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

test("a type-only import closing a loop is a cycle", (t) => {
  const dir = tree({
    "a.ts": `import { b } from "./b.ts";\nexport const a = b;\n`,
    "b.ts": `import type { C } from "./sub/c.ts";\nexport const b = 1;\nexport type B = C;\n`,
    "sub/c.ts": `export type { A } from "../a.ts";\nexport type C = number;\n`,
    "leaf.ts": `import { a } from "./a.ts";\nexport const leaf = a;\n`,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const found = findCycles(importGraph(dir)) as Found[];
  assert.equal(found.length, 1);
  assert.deepEqual(found[0]!.members.map((p) => basename(p)).sort(), ["a.ts", "b.ts", "c.ts"]);
  assert.deepEqual(
    found[0]!.cycle.map((p) => basename(p)),
    ["a.ts", "b.ts", "c.ts", "a.ts"],
  );
});

test("imports forming no loop, packages and node: builtins are not cycles", (t) => {
  const dir = tree({
    "a.ts": `import { readFileSync } from "node:fs";\nimport { b } from "./b.ts";\nexport const a = [b, readFileSync];\n`,
    "b.ts": `import ts from "typescript";\nexport const b = ts;\n`,
    "x/index.ts": `import { a } from "../a.ts";\nexport const x = a;\n`,
  });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.deepEqual(findCycles(importGraph(dir)), []);
});

test("src/ has no import cycle", () => {
  const found = cyclesOf(join(import.meta.dirname, "..", "..", "..", "src")) as Found[];
  assert.deepEqual(
    found.map((f) => f.cycle.map((p) => basename(p)).join(" -> ")),
    [],
  );
});
