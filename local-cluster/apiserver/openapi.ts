// OpenAPI v3 documents (/openapi/v3 and /openapi/v3/<api|apis/group>/<version>) as kubectl uses
// them: `kubectl explain` reads the CRD schemas, and the PATCH operations' `fieldValidation`
// parameter tells kubectl to leave --validate=strict to the server.
import { createHash } from 'node:crypto';
import type { Registry } from './registry.ts';
import type { JSONSchemaProps, ResourceInfo } from './types.ts';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

export function definitionName(info: { group: string; version: string; kind: string; crd?: string }): string {
  if (info.crd) return `${info.group.split('.').reverse().join('.')}.${info.version}.${info.kind}`;
  if (info.group === 'apiextensions.k8s.io')
    return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${info.version}.${info.kind}`;
  return `io.k8s.api.${info.group === '' ? 'core' : (info.group.split('.')[0] as string)}.${info.version}.${info.kind}`;
}

export function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

const TYPE_META_PROPS: Record<string, JSONSchemaProps> = {
  apiVersion: {
    type: 'string',
    description:
      'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
  },
  kind: {
    type: 'string',
    description:
      'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
  },
};

const OBJECT_META: JSONSchemaProps = {
  type: 'object',
  description:
    'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  properties: {
    name: { type: 'string', description: 'Name must be unique within a namespace.' },
    generateName: {
      type: 'string',
      description:
        'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.',
    },
    namespace: {
      type: 'string',
      description: 'Namespace defines the space within which each name must be unique.',
    },
    uid: { type: 'string', description: 'UID is the unique in time and space value for this object.' },
    resourceVersion: {
      type: 'string',
      description: 'An opaque value that represents the internal version of this object.',
    },
    generation: {
      type: 'integer',
      format: 'int64',
      description: 'A sequence number representing a specific generation of the desired state.',
    },
    creationTimestamp: {
      type: 'string',
      format: 'date-time',
      description:
        'CreationTimestamp is a timestamp representing the server time when this object was created.',
    },
    deletionTimestamp: {
      type: 'string',
      format: 'date-time',
      description: 'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted.',
    },
    deletionGracePeriodSeconds: {
      type: 'integer',
      format: 'int64',
      description:
        'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system.',
    },
    labels: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description:
        'Map of string keys and values that can be used to organize and categorize (scope and select) objects.',
    },
    annotations: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description:
        'Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.',
    },
    finalizers: {
      type: 'array',
      items: { type: 'string' },
      description: 'Must be empty before the object is deleted from the registry.',
    },
    ownerReferences: {
      type: 'array',
      description: 'List of objects depended by this object.',
      items: {
        type: 'object',
        required: ['apiVersion', 'kind', 'name', 'uid'],
        properties: {
          apiVersion: { type: 'string', description: 'API version of the referent.' },
          kind: { type: 'string', description: 'Kind of the referent.' },
          name: { type: 'string', description: 'Name of the referent.' },
          uid: { type: 'string', description: 'UID of the referent.' },
          controller: {
            type: 'boolean',
            description: 'If true, this reference points to the managing controller.',
          },
          blockOwnerDeletion: {
            type: 'boolean',
            description:
              'If true, AND if the owner has the "foregroundDeletion" finalizer, then the owner cannot be deleted from the key-value store until this reference is removed.',
          },
        },
      },
    },
  },
};

function schemaFor(info: ResourceInfo): JSONSchemaProps {
  const gvk = [{ group: info.group, version: info.version, kind: info.kind }];
  const metadata = {
    $ref: `#/components/schemas/${META}.ObjectMeta`,
    description:
      "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
  } as JSONSchemaProps;
  if (info.crd && info.schema) {
    return {
      ...structuredClone(info.schema),
      type: 'object',
      properties: { ...TYPE_META_PROPS, ...structuredClone(info.schema.properties ?? {}), metadata },
      'x-kubernetes-group-version-kind': gvk,
    };
  }
  return {
    type: 'object',
    description: `${info.kind} (served by the local API server; only the standard fields are described).`,
    properties: {
      ...TYPE_META_PROPS,
      metadata,
      spec: {
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
        description: `Spec of the ${info.kind}.`,
      },
      status: {
        type: 'object',
        'x-kubernetes-preserve-unknown-fields': true,
        description: `Status of the ${info.kind}.`,
      },
    },
    'x-kubernetes-preserve-unknown-fields': true,
    'x-kubernetes-group-version-kind': gvk,
  };
}

function queryParam(name: string, description: string): object {
  return { name, in: 'query', description, schema: { type: 'string', uniqueItems: true } };
}

const WRITE_PARAMS = [
  queryParam('dryRun', 'When present, indicates that modifications should not be persisted.'),
  queryParam(
    'fieldManager',
    'fieldManager is a name associated with the actor or entity that is making these changes.',
  ),
  queryParam(
    'fieldValidation',
    'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict.',
  ),
];

function operations(info: ResourceInfo): Record<string, object> {
  const def = definitionName(info);
  const ref = { $ref: `#/components/schemas/${def}` };
  const gvk = { group: info.group, version: info.version, kind: info.kind };
  const json = (schema: object): object => ({ 'application/json': { schema } });
  const prefix = `/${gvPath(info.group, info.version)}${info.namespaced ? '/namespaces/{namespace}' : ''}/${info.resource}`;
  const ok = { '200': { description: 'OK', content: json(ref) } };
  const common = { 'x-kubernetes-group-version-kind': gvk };
  const patchBody = {
    content: Object.fromEntries(
      // strategic-merge-patch is deliberately not advertised: kubectl then computes apply patches
      // for built-ins from its compiled-in types instead of from these shallow schemas.
      ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml'].map(
        (t) => [t, { schema: { $ref: `#/components/schemas/${META}.Patch` } }],
      ),
    ),
    required: true,
  };
  const item = {
    get: { operationId: `read${info.kind}`, responses: ok, 'x-kubernetes-action': 'get', ...common },
    put: {
      operationId: `replace${info.kind}`,
      parameters: WRITE_PARAMS,
      requestBody: { content: json(ref), required: true },
      responses: ok,
      'x-kubernetes-action': 'put',
      ...common,
    },
    patch: {
      operationId: `patch${info.kind}`,
      parameters: [...WRITE_PARAMS, queryParam('force', 'Force is going to "force" Apply requests.')],
      requestBody: patchBody,
      responses: ok,
      'x-kubernetes-action': 'patch',
      ...common,
    },
    delete: { operationId: `delete${info.kind}`, responses: ok, 'x-kubernetes-action': 'delete', ...common },
    parameters: [
      { name: 'name', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } },
      ...(info.namespaced
        ? [{ name: 'namespace', in: 'path', required: true, schema: { type: 'string', uniqueItems: true } }]
        : []),
    ],
  };
  const collection = {
    get: {
      operationId: `list${info.kind}`,
      responses: { '200': { description: 'OK' } },
      'x-kubernetes-action': 'list',
      ...common,
    },
    post: {
      operationId: `create${info.kind}`,
      parameters: WRITE_PARAMS,
      requestBody: { content: json(ref), required: true },
      responses: ok,
      'x-kubernetes-action': 'post',
      ...common,
    },
  };
  const paths: Record<string, object> = { [prefix]: collection, [`${prefix}/{name}`]: item };
  if (info.statusSubresource) {
    paths[`${prefix}/{name}/status`] = {
      get: item.get,
      put: { ...item.put, operationId: `replace${info.kind}Status` },
      patch: { ...item.patch, operationId: `patch${info.kind}Status` },
      parameters: item.parameters,
    };
  }
  return paths;
}

export interface OpenApiV3 {
  root(): object;
  document(path: string): { body: string; hash: string } | undefined;
}

export function openApiV3(registry: Registry): OpenApiV3 {
  let cachedGeneration = -1;
  let docs = new Map<string, { body: string; hash: string }>();
  const rebuild = (): void => {
    if (cachedGeneration === registry.generation) return;
    const byGv = new Map<string, ResourceInfo[]>();
    for (const info of registry.all()) {
      const p = gvPath(info.group, info.version);
      byGv.set(p, [...(byGv.get(p) ?? []), info]);
    }
    docs = new Map();
    for (const [p, infos] of byGv) {
      const schemas: Record<string, object> = {
        [`${META}.ObjectMeta`]: OBJECT_META,
        [`${META}.Patch`]: {
          type: 'object',
          description:
            'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
        },
      };
      let paths: Record<string, object> = {};
      for (const info of infos) {
        schemas[definitionName(info)] = schemaFor(info);
        paths = { ...paths, ...operations(info) };
      }
      const body = JSON.stringify({
        openapi: '3.0.0',
        info: { title: 'Kubernetes', version: 'v1.32.0' },
        paths,
        components: { schemas },
      });
      docs.set(p, { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() });
    }
    cachedGeneration = registry.generation;
  };
  return {
    root() {
      rebuild();
      const paths: Record<string, object> = {};
      for (const [p, doc] of docs) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${doc.hash}` };
      return { paths };
    },
    document(path) {
      rebuild();
      return docs.get(path);
    },
  };
}
