// Typing and lazy loader for the schema validator that scripts/build-validators.js generates
// (ajv standalone code, CommonJS) at src/spec/generated/validate-config.js. tsc copies it to
// dist/spec/generated/. Nothing is compiled at run time, and commands that never validate a
// config never load it.

/** One ajv error, as the generated code reports it (ajv option `messages: false`). */
export interface SchemaError {
  /** JSON pointer into the document: `/mounts/2/destination`. */
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
}

export interface SchemaValidateFunction {
  (data: unknown): boolean;
  errors?: SchemaError[] | null;
}

let cached: SchemaValidateFunction | undefined;

export function schemaValidator(): SchemaValidateFunction {
  if (cached === undefined) {
    // A plain require: the generated file is CommonJS and may not exist until the build runs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('./generated/validate-config') as SchemaValidateFunction & {
      default?: SchemaValidateFunction;
    };
    cached = typeof mod.default === 'function' ? mod.default : mod;
  }
  return cached;
}
