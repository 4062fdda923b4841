// The structural-schema rules an apiextensions.k8s.io/v1 CRD must satisfy (a real API server
// rejects the CRD with 422 otherwise): every node has a type unless it is int-or-string or
// preserves unknown fields, arrays have items, properties and additionalProperties exclude each
// other, the root is an object and metadata may only constrain name and generateName.
import type { StatusCause } from './errors.ts';
import type { JSONSchemaProps } from './types.ts';

function checkNode(schema: JSONSchemaProps, path: string, causes: StatusCause[], root: boolean): void {
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  if (!schema.type && !intOrString && !preserve) {
    causes.push({
      reason: 'FieldValueRequired',
      field: `${path}.type`,
      message: 'Required value: must not be empty for specified object fields',
    });
  }
  if (root && schema.type !== undefined && schema.type !== 'object') {
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${path}.type`,
      message: `Invalid value: "${schema.type}": must be object at the root`,
    });
  }
  if (schema.type === 'array' && !schema.items) {
    causes.push({
      reason: 'FieldValueRequired',
      field: `${path}.items`,
      message: 'Required value: must be specified',
    });
  }
  if (
    schema.properties &&
    schema.additionalProperties !== undefined &&
    schema.additionalProperties !== false
  ) {
    causes.push({
      reason: 'FieldValueForbidden',
      field: `${path}.additionalProperties`,
      message: 'Forbidden: additionalProperties and properties are mutual exclusive',
    });
  }
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (root && name === 'metadata') {
      const allowed = new Set(['name', 'generateName']);
      for (const metaField of Object.keys(prop.properties ?? {})) {
        if (!allowed.has(metaField)) {
          causes.push({
            reason: 'FieldValueForbidden',
            field: `${path}.properties[metadata].properties[${metaField}]`,
            message: 'Forbidden: must not be specified',
          });
        }
      }
      if (prop.type !== undefined && prop.type !== 'object') {
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${path}.properties[metadata].type`,
          message: `Invalid value: "${prop.type}": must be object`,
        });
      }
      continue;
    }
    checkNode(prop, `${path}.properties[${name}]`, causes, false);
  }
  if (schema.items && typeof schema.items === 'object' && !Array.isArray(schema.items))
    checkNode(schema.items, `${path}.items`, causes, false);
  if (typeof schema.additionalProperties === 'object')
    checkNode(schema.additionalProperties, `${path}.additionalProperties`, causes, false);
}

/** Field errors of a CRD version's `openAPIV3Schema` (path prefix given by the caller). */
export function structuralErrors(schema: JSONSchemaProps, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  checkNode(schema, path, causes, true);
  return causes;
}
