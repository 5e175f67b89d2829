// Runs a compiled TypeBox schema over one document and turns its errors into file:line: field
// messages written for people ("expected integer >= 0", "unknown field ... (allowed: ...)").
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType } from '@sinclair/typebox/errors';
import type { ValueError } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';
import { ConfigError } from './config-error';
import { fieldName, pointerToPath } from './yaml-source';
import type { SourceDoc } from './yaml-source';

/** Schemas are compiled once, at module load (fastify's "compile ahead of time"). */
export function compileSchema<T extends TSchema>(schema: T): TypeCheck<T> {
  return TypeCompiler.Compile(schema);
}

// Errors that only say "wrong type": when every union variant fails with one of these at the
// union's own path, the value matched none of them and the union's description is the message.
const TYPE_MISMATCH = new Set<ValueErrorType>([
  ValueErrorType.String,
  ValueErrorType.Integer,
  ValueErrorType.Number,
  ValueErrorType.Boolean,
  ValueErrorType.Object,
  ValueErrorType.Array,
  ValueErrorType.Literal,
  ValueErrorType.Null,
  ValueErrorType.Undefined,
  ValueErrorType.Union,
]);

/**
 * Checks `value` (the document, or a part of it at `basePath`) and returns one ConfigError per
 * offending field, first error per field only, in document order.
 */
export function schemaErrors<T extends TSchema>(
  check: TypeCheck<T>,
  doc: SourceDoc,
  value: unknown = doc.value,
  basePath: readonly (string | number)[] = [],
): ConfigError[] {
  if (check.Check(value)) return [];
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const raw of check.Errors(value)) {
    for (const err of flattenUnion(raw)) {
      if (seen.has(err.path)) continue;
      seen.add(err.path);
      const path = [...basePath, ...pointerToPath(err.path)];
      out.push(new ConfigError(doc.file, doc.lineOf(path), fieldName(path), explain(err)));
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/** A union error becomes the errors of the variant the value was evidently meant to be. */
function flattenUnion(err: ValueError): ValueError[] {
  if (err.type !== ValueErrorType.Union || (err.schema as { expected?: string }).expected) return [err];
  for (const variant of err.errors) {
    const list = [...variant];
    if (list.length > 0 && !(list[0].path === err.path && TYPE_MISMATCH.has(list[0].type))) {
      return list.flatMap(flattenUnion);
    }
  }
  return [err];
}

function explain(err: ValueError): string {
  const s = err.schema as Record<string, any>;
  switch (err.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return `unknown field (allowed: ${Object.keys(s.properties ?? {}).join(', ')})`;
    case ValueErrorType.ObjectRequiredProperty:
      return `required field missing (${describe(s)})`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `expected integer >= ${s.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `expected integer <= ${s.maximum}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'expected a non-empty string' : `expected at least ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `expected at most ${s.maxLength} characters`;
    case ValueErrorType.ArrayMinItems:
      return s.minItems === 1 ? 'expected a non-empty list' : `expected at least ${s.minItems} items`;
    case ValueErrorType.ArrayMaxItems:
      return `expected at most ${s.maxItems} items`;
    default:
      return describe(s);
  }
}

/** "expected …" for a schema; a schema's own `expected` option wins. */
export function describe(s: Record<string, any>): string {
  if (typeof s.expected === 'string') return `expected ${s.expected}`;
  if (Array.isArray(s.anyOf)) {
    if (s.anyOf.every((v: any) => v.const !== undefined)) {
      return `expected one of: ${s.anyOf.map((v: any) => String(v.const)).join(', ')}`;
    }
    return s.anyOf.map((v: any) => describe(v)).join(' or ');
  }
  if (s.const !== undefined) return `expected ${JSON.stringify(s.const)}`;
  switch (s.type) {
    case 'integer': {
      if (s.minimum !== undefined && s.maximum !== undefined) return `expected integer ${s.minimum}..${s.maximum}`;
      if (s.minimum !== undefined) return `expected integer >= ${s.minimum}`;
      return 'expected integer';
    }
    case 'number':
      return 'expected a number';
    case 'string':
      if (s.pattern) return `expected a string matching ${s.pattern}`;
      return s.minLength ? 'expected a non-empty string' : 'expected a string';
    case 'boolean':
      return 'expected true or false';
    case 'array':
      return s.minItems ? 'expected a non-empty list' : 'expected a list';
    case 'object':
      return 'expected a mapping';
    default:
      return 'invalid value';
  }
}
