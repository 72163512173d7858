// A small typed schema/validation kit for the YAML config: every validator returns a value (its
// default when the input is bad) and appends issues instead of throwing, so one pass reports
// every error at once, each with the dotted path of the offending key and the value found.

/** One validation failure: where (`listeners[0].port`), what was expected, what was found. */
export interface ConfigIssue {
  path: string;
  message: string;
  value: unknown;
}

/** Leaf schemas treat `undefined` (key absent) as "use the default". */
export interface Schema<T> {
  /** Human-readable type, for docs and messages ("integer 0..65535", "one of tcp"). */
  readonly describe: string;
  readonly defaultValue: T;
  /** Validates `input` at `path`; on failure appends to `issues` and returns the default. */
  parse(input: unknown, path: string, issues: ConfigIssue[]): T;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

/** Renders a found value for an error message: strings quoted, structures as short JSON. */
export function formatValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (typeof value === "bigint") return `${value}`;
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    json = Object.prototype.toString.call(value);
  }
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function issue<T>(issues: ConfigIssue[], path: string, expected: string, value: unknown, fallback: T): T {
  issues.push({ path, message: `expected ${expected}, got ${formatValue(value)}`, value });
  return fallback;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export interface IntOptions {
  min: number;
  max?: number;
  default: number;
}

/** An integer in [min, max] (max omitted = no upper bound). */
export function int(opts: IntOptions): Schema<number> {
  const describe = opts.max === undefined ? `an integer >= ${opts.min}` : `an integer ${opts.min}..${opts.max}`;
  return {
    describe,
    defaultValue: opts.default,
    parse(input, path, issues) {
      if (input === undefined) return opts.default;
      const ok =
        typeof input === "number" &&
        Number.isSafeInteger(input) &&
        input >= opts.min &&
        (opts.max === undefined || input <= opts.max);
      return ok ? input : issue(issues, path, describe, input, opts.default);
    },
  };
}

export function bool(defaultValue: boolean): Schema<boolean> {
  const describe = "a boolean (true or false)";
  return {
    describe,
    defaultValue,
    parse(input, path, issues) {
      if (input === undefined) return defaultValue;
      return typeof input === "boolean" ? input : issue(issues, path, describe, input, defaultValue);
    },
  };
}

export interface StrOptions {
  default: string;
  /** Extra check: returns what was expected when the string is not acceptable. */
  check?: (s: string) => string | undefined;
}

/** A non-empty string. */
export function str(opts: StrOptions): Schema<string> {
  const describe = "a non-empty string";
  return {
    describe,
    defaultValue: opts.default,
    parse(input, path, issues) {
      if (input === undefined) return opts.default;
      if (typeof input !== "string" || input.length === 0) return issue(issues, path, describe, input, opts.default);
      const expected = opts.check?.(input);
      return expected === undefined ? input : issue(issues, path, expected, input, opts.default);
    },
  };
}

/** Any string, the empty one included. */
export function anyStr(defaultValue: string): Schema<string> {
  const describe = "a string";
  return {
    describe,
    defaultValue,
    parse(input, path, issues) {
      if (input === undefined) return defaultValue;
      return typeof input === "string" ? input : issue(issues, path, describe, input, defaultValue);
    },
  };
}

/** One of a fixed set of strings or numbers. */
export function oneOf<const V extends readonly (string | number)[]>(
  values: V,
  defaultValue: V[number],
): Schema<V[number]> {
  const describe = `one of ${values.map((v) => (typeof v === "string" ? JSON.stringify(v) : String(v))).join(", ")}`;
  return {
    describe,
    defaultValue,
    parse(input, path, issues) {
      if (input === undefined) return defaultValue;
      return values.includes(input as V[number])
        ? (input as V[number])
        : issue(issues, path, describe, input, defaultValue);
    },
  };
}

/** A key that may be left out (its value is then `undefined`). */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly isOptional: true;
  readonly inner: Schema<T>;
}

export function optional<T>(inner: Schema<T>): OptionalSchema<T> {
  return {
    describe: `${inner.describe} (optional)`,
    defaultValue: undefined,
    isOptional: true,
    inner,
    parse(input, path, issues) {
      return input === undefined ? undefined : inner.parse(input, path, issues);
    },
  };
}

/** A key that must be given (no sensible default, e.g. an ACL rule's topic). */
export function required<T>(inner: Schema<T>): Schema<T> {
  return {
    describe: `${inner.describe} (required)`,
    defaultValue: inner.defaultValue,
    parse(input, path, issues) {
      if (input !== undefined) return inner.parse(input, path, issues);
      issues.push({ path, message: `missing required key: expected ${inner.describe}`, value: undefined });
      return inner.defaultValue;
    },
  };
}

export type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { isOptional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] };
/** The value type of an object schema: optional() keys become optional properties. */
export type ObjectOf<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & {
    [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined>;
  }
>;

export interface ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly shape: S;
}

const childPath = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

/**
 * A mapping with exactly the keys of `shape`: unknown keys are errors, missing keys take their
 * defaults. `null` (a YAML section left empty) counts as absent, i.e. all defaults.
 */
export function object<S extends Shape>(shape: S): ObjectSchema<S> {
  const keys = Object.keys(shape);
  const build = (input: Record<string, unknown>, path: string, issues: ConfigIssue[]): ObjectOf<S> => {
    const out: Record<string, unknown> = {};
    for (const key of keys) {
      const value = shape[key]!.parse(input[key], childPath(path, key), issues);
      // Leave optional keys out rather than set to undefined: consumers test `"k" in obj`.
      if (value !== undefined) out[key] = value;
    }
    for (const key of Object.keys(input)) {
      if (!Object.hasOwn(shape, key)) {
        const near = closestKey(key, keys);
        const hint = near === undefined ? `allowed: ${keys.join(", ")}` : `did you mean "${near}"?`;
        issues.push({ path: childPath(path, key), message: `unknown key (${hint})`, value: input[key] });
      }
    }
    return out as ObjectOf<S>;
  };
  const defaultValue = build({}, "", []);
  return {
    describe: "a mapping",
    defaultValue,
    shape,
    parse(input, path, issues) {
      if (input === undefined || input === null) return build({}, path, issues);
      if (!isPlainObject(input)) return issue(issues, path, "a mapping (key: value)", input, defaultValue);
      return build(input, path, issues);
    },
  };
}

/** The allowed key a typo most likely meant: same letters ignoring case, or at most 2 edits away. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of allowed) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance (keys are short: the quadratic table is fine). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}

export interface ArraySchema<T> extends Schema<T[]> {
  readonly item: Schema<T>;
}

/** A list; `null`/absent = the default list. */
export function array<T>(item: Schema<T>, defaultValue: T[], opts: { minItems?: number } = {}): ArraySchema<T> {
  const minItems = opts.minItems ?? 0;
  return {
    describe: "a list",
    defaultValue,
    item,
    parse(input, path, issues) {
      if (input === undefined || input === null) return structuredClone(defaultValue);
      if (!Array.isArray(input)) return issue(issues, path, "a list", input, structuredClone(defaultValue));
      if (input.length < minItems) {
        return issue(issues, path, `a list of at least ${minItems}`, input, structuredClone(defaultValue));
      }
      return input.map((v, i) => item.parse(v, `${path}[${i}]`, issues));
    },
  };
}

/**
 * Adds a whole-value check that runs once the value itself is valid (e.g. cross-field rules).
 * Keeps the inner schema's introspection fields (`shape`, `item`).
 */
export function refine<S extends Schema<unknown>>(
  inner: S,
  check: (value: Infer<S>, path: string, issues: ConfigIssue[]) => void,
): S {
  return {
    ...inner,
    parse(input: unknown, path: string, issues: ConfigIssue[]) {
      const before = issues.length;
      const value = inner.parse(input, path, issues) as Infer<S>;
      if (issues.length === before) check(value, path, issues);
      return value;
    },
  };
}
