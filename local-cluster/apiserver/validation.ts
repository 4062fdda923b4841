// Structural-schema processing of custom resources, as the apiextensions server does it:
// pruning of unknown fields, schema defaults, then validation with Kubernetes' field error texts.
import { isIP } from 'node:net';
import type { StatusCause } from './errors.ts';
import type { JSONSchemaProps, Json } from './types.ts';

const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'finalizers',
  'ownerReferences',
  'managedFields',
  'selfLink',
]);

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/**
 * Removes fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields) and
 * returns their paths, so strict field validation can reject them instead.
 */
export function prune(value: unknown, schema: JSONSchemaProps | undefined, path = '', root = true): string[] {
  const unknown: string[] = [];
  if (!schema) return unknown;
  if (isObject(value)) {
    const embedded = root || schema['x-kubernetes-embedded-resource'] === true;
    const props = schema.properties;
    const additional =
      typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined;
    for (const key of Object.keys(value)) {
      const p = childPath(path, key);
      if (embedded && (key === 'apiVersion' || key === 'kind')) continue;
      if (embedded && key === 'metadata') {
        if (isObject(value[key])) {
          for (const mk of Object.keys(value[key])) {
            if (!OBJECT_META_FIELDS.has(mk)) {
              unknown.push(`${p}.${mk}`);
              delete value[key][mk];
            }
          }
        }
        continue;
      }
      const propSchema = props?.[key];
      if (propSchema) unknown.push(...prune(value[key], propSchema, p, false));
      else if (additional) unknown.push(...prune(value[key], additional, p, false));
      else if (
        schema['x-kubernetes-preserve-unknown-fields'] !== true &&
        schema.additionalProperties !== true
      ) {
        unknown.push(p);
        delete value[key];
      }
    }
  } else if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => unknown.push(...prune(item, schema.items, `${path}[${i}]`, false)));
  }
  return unknown;
}

/** Applies `default`s of declared properties that are absent, recursively. */
export function applyDefaults(value: unknown, schema: JSONSchemaProps | undefined): void {
  if (!schema) return;
  if (isObject(value)) {
    for (const [key, propSchema] of Object.entries(schema.properties ?? {})) {
      if (value[key] === undefined && propSchema.default !== undefined)
        value[key] = structuredClone(propSchema.default);
      if (value[key] !== undefined) applyDefaults(value[key], propSchema);
    }
    if (typeof schema.additionalProperties === 'object') {
      for (const v of Object.values(value)) applyDefaults(v, schema.additionalProperties);
    }
  } else if (Array.isArray(value) && schema.items) {
    for (const item of value) applyDefaults(item, schema.items);
  }
}

/** The string formats the apiextensions server checks (a subset of kube-openapi's strfmt registry). */
const FORMATS: Record<string, (v: string) => boolean> = {
  'date-time': (v) =>
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(v) && !Number.isNaN(Date.parse(v)),
  date: (v) => /^\d{4}-\d\d-\d\d$/.test(v) && !Number.isNaN(Date.parse(v)),
  uuid: (v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v),
  ipv4: (v) => isIP(v) === 4,
  ipv6: (v) => isIP(v) === 6,
  byte: (v) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v),
};

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** How Kubernetes prints a bad value in "Invalid value: ..." */
function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    default:
      return true;
  }
}

/** Validates `value` against a structural schema; returns one cause per failing field. */
export function validate(value: unknown, schema: JSONSchemaProps | undefined, path = ''): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!schema) return causes;
  const bodyPath = path || '<root>';
  const fail = (reason: string, message: string): void => {
    causes.push({ reason, message, field: bodyPath });
  };

  if (value === null) {
    if (schema.nullable || (schema['x-kubernetes-preserve-unknown-fields'] === true && !schema.type))
      return causes;
    if (schema.type) {
      fail(
        'FieldValueInvalid',
        `Invalid value: "null": ${bodyPath} in body must be of type ${schema.type}: "null"`,
      );
    }
    return causes;
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
      fail(
        'FieldValueInvalid',
        `Invalid value: "${jsonType(value)}": ${bodyPath} in body must be of type integer,string: "${jsonType(value)}"`,
      );
    }
    return causes;
  }
  if (schema.type && !typeMatches(schema.type, value)) {
    const t = jsonType(value);
    fail(
      'FieldValueInvalid',
      `Invalid value: "${t}": ${bodyPath} in body must be of type ${schema.type}: "${t}"`,
    );
    return causes;
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    const supported = schema.enum.map((e) => show(e)).join(', ');
    fail('FieldValueNotSupported', `Unsupported value: ${show(value)}: supported values: ${supported}`);
  }
  if (typeof value === 'number') {
    if (
      schema.minimum !== undefined &&
      (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum)
    ) {
      fail(
        'FieldValueInvalid',
        `Invalid value: ${value}: ${bodyPath} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`,
      );
    }
    if (
      schema.maximum !== undefined &&
      (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum)
    ) {
      fail(
        'FieldValueInvalid',
        `Invalid value: ${value}: ${bodyPath} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`,
      );
    }
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && [...value].length < schema.minLength) {
      fail(
        'FieldValueInvalid',
        `Invalid value: ${show(value)}: ${bodyPath} in body should be at least ${schema.minLength} chars long`,
      );
    }
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) {
      fail('FieldValueTooLong', `Too long: may not be more than ${schema.maxLength} bytes`);
    }
    const format = schema.format ? FORMATS[schema.format] : undefined;
    if (format && !format(value)) {
      fail(
        'FieldValueInvalid',
        `Invalid value: ${show(value)}: ${bodyPath} in body must be of type ${schema.format}: ${show(value)}`,
      );
    }
    if (schema.pattern !== undefined) {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, 'u');
      } catch {
        re = undefined; // a pattern JavaScript cannot compile is not enforced
      }
      if (re && !re.test(value)) {
        fail(
          'FieldValueInvalid',
          `Invalid value: ${show(value)}: ${bodyPath} in body should match '${schema.pattern}'`,
        );
      }
    }
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      fail(
        'FieldValueInvalid',
        `Invalid value: ${value.length}: ${bodyPath} in body should have at least ${schema.minItems} items`,
      );
    }
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      fail('FieldValueTooMany', `Too many: ${value.length}: must have at most ${schema.maxItems} items`);
    }
    if (schema.items)
      value.forEach((item, i) => causes.push(...validate(item, schema.items, `${path}[${i}]`)));
  }
  if (isObject(value)) {
    for (const key of schema.required ?? []) {
      if (value[key] === undefined) {
        causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: childPath(path, key) });
      }
    }
    for (const [key, v] of Object.entries(value)) {
      const propSchema = schema.properties?.[key];
      if (propSchema) causes.push(...validate(v, propSchema, childPath(path, key)));
      else if (typeof schema.additionalProperties === 'object') {
        causes.push(...validate(v, schema.additionalProperties, `${path}[${key}]`));
      }
    }
  }
  for (const sub of schema.allOf ?? []) causes.push(...validate(value, { ...sub, type: sub.type }, path));
  if (schema.anyOf && !schema.anyOf.some((s) => validate(value, s, path).length === 0)) {
    fail(
      'FieldValueInvalid',
      `Invalid value: ${show(value)}: ${bodyPath} in body must match at least one schema in anyOf`,
    );
  }
  if (schema.oneOf && schema.oneOf.filter((s) => validate(value, s, path).length === 0).length !== 1) {
    fail(
      'FieldValueInvalid',
      `Invalid value: ${show(value)}: ${bodyPath} in body must match exactly one schema in oneOf`,
    );
  }
  return causes;
}

/** Prunes, defaults and validates a custom resource; returns pruned paths and validation causes. */
export function processCustomResource(
  obj: Record<string, Json | unknown>,
  schema: JSONSchemaProps | undefined,
): { unknownFields: string[]; causes: StatusCause[] } {
  if (!schema) return { unknownFields: [], causes: [] };
  const unknownFields = prune(obj, schema);
  applyDefaults(obj, schema);
  const rootSchema: JSONSchemaProps = { ...schema, properties: { ...schema.properties } };
  // apiVersion/kind/metadata are checked by the server itself, not by the CRD schema.
  delete rootSchema.properties?.['metadata'];
  const causes = validate(obj, rootSchema, '');
  return { unknownFields, causes };
}
