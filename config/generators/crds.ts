// CustomResourceDefinitions generated from the zod schemas: one source of truth for the API.
import { z } from 'zod';
import { GROUP, KINDS, VERSION, CATEGORY, type KindInfo } from '../../functions/shared/api/index.ts';

type JsonSchema = { [key: string]: unknown };

/**
 * Turns zod's OpenAPI 3.0 output into a Kubernetes structural schema: every node typed, no
 * additionalProperties next to properties, no JSON-Schema-only keywords.
 */
export function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node as JsonSchema)) {
    if (key === '$schema' || key === 'id' || key === '$id') continue;
    if (key === 'additionalProperties' && (value === false || 'properties' in (node as JsonSchema))) continue;
    if (key === 'properties' || key === 'definitions') {
      out[key] = Object.fromEntries(
        Object.entries(value as JsonSchema).map(([k, v]) => [k, toStructural(v)]),
      );
    } else out[key] = toStructural(value);
  }
  if (Array.isArray(out.enum) && out.nullable === true)
    out.enum = (out.enum as unknown[]).filter((v) => v !== null);
  return out;
}

function openApiOf(schema: z.ZodType): JsonSchema {
  return toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' })) as JsonSchema;
}

export function crdFor(info: KindInfo): JsonSchema {
  const spec = openApiOf(info.spec);
  const status = openApiOf(info.status);
  delete spec.nullable;
  delete status.nullable;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: info.shortNames,
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: info.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: info.description,
              properties: {
                apiVersion: {
                  type: 'string',
                  description: 'APIVersion defines the versioned schema of this representation of an object.',
                },
                kind: {
                  type: 'string',
                  description: 'Kind is a string value representing the REST resource.',
                },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

/** File name under config/crds → manifest. */
export function crdManifests(): Record<string, JsonSchema> {
  return Object.fromEntries(
    Object.values(KINDS).map((info) => [`${GROUP}_${info.plural}.yaml`, crdFor(info as KindInfo)]),
  );
}
