// A small JSON Schema (2020-12 subset) validator for the OpenAPI test: $ref (local), type (incl. arrays and
// "integer"), enum, required, properties, additionalProperties (schema), items, allOf, minimum, maximum,
// minProperties. Returns the problems found (empty = valid).
type Schema = Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

export function validate(schema: Schema, value: unknown, root: Schema, path = "$"): string[] {
  const errors: string[] = [];
  if (typeof schema.$ref === "string") {
    const target = schema.$ref
      .replace(/^#\//, "")
      .split("/")
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], root) as Schema | undefined;
    if (target === undefined) return [`${path}: unresolved $ref ${schema.$ref}`];
    return validate(target, value, root, path);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const t = typeOf(value);
    if (!types.includes(t) && !(t === "integer" && types.includes("number"))) {
      return [`${path}: expected ${types.join("|")}, got ${t}`];
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) errors.push(`${path}: below minimum`);
    if (typeof schema.maximum === "number" && value > schema.maximum) errors.push(`${path}: above maximum`);
  }
  if (Array.isArray(schema.allOf))
    for (const s of schema.allOf as Schema[]) errors.push(...validate(s, value, root, path));
  if (typeOf(value) === "object") {
    const obj = value as Record<string, unknown>;
    for (const k of (schema.required as string[] | undefined) ?? [])
      if (!(k in obj)) errors.push(`${path}.${k}: required`);
    if (typeof schema.minProperties === "number" && Object.keys(obj).length < schema.minProperties) {
      errors.push(`${path}: fewer than ${schema.minProperties} properties`);
    }
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, v] of Object.entries(obj)) {
      if (props[k] !== undefined) errors.push(...validate(props[k], v, root, `${path}.${k}`));
      else if (typeof schema.additionalProperties === "object" && schema.additionalProperties !== null) {
        errors.push(...validate(schema.additionalProperties as Schema, v, root, `${path}.${k}`));
      }
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    value.forEach((v, i) => errors.push(...validate(schema.items as Schema, v, root, `${path}[${i}]`)));
  }
  return errors;
}
