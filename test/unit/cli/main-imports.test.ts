// Every `wharf` command loads src/cli/main.ts and what it imports statically; each command's own module is imported
// when the command runs. `wharf --version`, `wharf status` or `wharf token` must not load the broker or the config
// schema: through the config's index, program.ts loaded ~70 more modules (0.055 -> 0.04 s of CPU per `wharf
// --version` from the bundle, 8 alternating pairs, 2026-12-07).
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = fileURLToPath(new URL("../../../", import.meta.url));

/** The relative modules `file` imports at runtime: static imports and re-exports, not `import type` nor `import()`. */
function runtimeImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  const out: string[] = [];
  for (const s of source.statements) {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(s)) {
      const clause = s.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.phaseModifier === ts.SyntaxKind.TypeKeyword ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) spec = s.moduleSpecifier;
    } else if (ts.isExportDeclaration(s) && !s.isTypeOnly) {
      spec = s.moduleSpecifier;
    }
    if (spec !== undefined && ts.isStringLiteral(spec) && spec.text.startsWith(".")) {
      const target = resolve(dirname(file), spec.text);
      assert.ok(existsSync(target), `${relative(root, file)} imports ${spec.text}, which does not exist`);
      out.push(target);
    }
  }
  return out;
}

function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
    if (seen.has(f)) continue;
    seen.add(f);
    todo.push(...runtimeImports(f));
  }
  return new Set([...seen].map((f) => relative(root, f)));
}

test("the modules every `wharf` command loads include neither the broker nor the config schema", () => {
  const loaded = closure(resolve(root, "src/cli/main.ts"));
  assert.ok(loaded.has("src/cli/program.ts") && loaded.has("src/cli/admin.ts"), [...loaded].join(", "));
  const unwanted = [...loaded].filter(
    (f) => f.startsWith("src/broker/") || f.startsWith("src/queues/") || f === "src/server/config/wharf-config.ts",
  );
  assert.deepEqual(unwanted, []);
  // The command's own modules stay behind `import()`.
  assert.ok(!loaded.has("src/cli/start.ts"));
});
