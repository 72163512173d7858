// Preloaded (`NODE_OPTIONS=--import …`) into a `wharf start` a test watches: records every package the process
// loads into the file named by WHARF_TEST_LOAD_LOG, one URL or path per line. ES modules are seen by a resolve
// hook (which runs on the loader thread and appends as it goes); CommonJS `require`s, which Node 20's hooks do not
// see, are listed from require.cache when the process exits.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const file = process.env["WHARF_TEST_LOAD_LOG"];
if (file) {
  const hook = `
import { appendFileSync } from "node:fs";
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(file, result.url + "\\n");
  return result;
}`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { file } });
  const cache = createRequire(import.meta.url).cache;
  process.on("exit", () => appendFileSync(file, Object.keys(cache).join("\n") + "\n"));
}
