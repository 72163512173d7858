import { test } from "node:test";
import assert from "node:assert/strict";
import { lazyImport, lazyRequire } from "../../../src/util/lazy.ts";

test("lazyImport: nothing is loaded before the first call, then the one promise is shared", async () => {
  let loads = 0;
  const load = lazyImport(async () => {
    loads++;
    return { value: 42 };
  });
  assert.equal(loads, 0);
  const [a, b] = await Promise.all([load(), load()]);
  assert.equal(loads, 1);
  assert.equal(a, b);
  assert.equal((await load()).value, 42);
  assert.equal(loads, 1);
});

test("lazyRequire: the package is required on the first call and the same exports returned after", () => {
  const path = lazyRequire<typeof import("node:path")>("node:path");
  const first = path();
  assert.equal(first.join("a", "b"), "a/b");
  assert.equal(path(), first);
});

test("lazyRequire: a missing package throws on the call, not when declared", () => {
  const missing = lazyRequire<unknown>("wharf-no-such-package");
  assert.throws(() => missing(), /wharf-no-such-package/);
});
