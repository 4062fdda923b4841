// CustomResourceDefinition checks and the status the apiextensions controllers would set.
import type { StatusCause } from './errors.ts';
import { now } from './names.ts';
import type { CrdSpec } from './registry.ts';
import { structuralErrors } from './structural.ts';
import type { KubeObject } from './types.ts';

export function validateCrd(crd: KubeObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = crd['spec'] as Partial<CrdSpec> | undefined;
  if (!spec || typeof spec !== 'object')
    return [{ reason: 'FieldValueRequired', field: 'spec', message: 'Required value' }];
  if (!spec.group)
    causes.push({ reason: 'FieldValueRequired', field: 'spec.group', message: 'Required value' });
  if (!spec.names?.plural)
    causes.push({ reason: 'FieldValueRequired', field: 'spec.names.plural', message: 'Required value' });
  if (!spec.names?.kind)
    causes.push({ reason: 'FieldValueRequired', field: 'spec.names.kind', message: 'Required value' });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.scope',
      message: `Unsupported value: "${String(spec.scope ?? '')}": supported values: "Cluster", "Namespaced"`,
    });
  }
  if (!Array.isArray(spec.versions) || spec.versions.length === 0) {
    causes.push({
      reason: 'FieldValueRequired',
      field: 'spec.versions',
      message: 'Required value: must have exactly one version marked as storage version',
    });
  } else if (spec.versions.filter((v) => v.storage).length !== 1) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.versions',
      message: `Invalid value: ${JSON.stringify(spec.versions.map((v) => v.name))}: must have exactly one version marked as storage version`,
    });
  }
  (Array.isArray(spec.versions) ? spec.versions : []).forEach((v, i) => {
    const schema = v.schema?.openAPIV3Schema;
    if (!schema) {
      causes.push({
        reason: 'FieldValueRequired',
        field: `spec.versions[${i}].schema.openAPIV3Schema`,
        message: 'Required value: schemas are required',
      });
    } else causes.push(...structuralErrors(schema, `spec.versions[${i}].schema.openAPIV3Schema`));
  });
  if (spec.group && spec.names?.plural && crd.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: "${crd.metadata.name}": must be spec.names.plural+"."+spec.group`,
    });
  }
  return causes;
}

/** The status the naming and establishing controllers give an accepted CRD. */
export function establishedStatus(crd: KubeObject): Record<string, unknown> {
  const spec = crd['spec'] as CrdSpec;
  const time = now();
  const names = {
    ...spec.names,
    singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
    listKind: spec.names.listKind ?? `${spec.names.kind}List`,
  };
  const condition = (type: string, reason: string, message: string): Record<string, string> => ({
    type,
    status: 'True',
    lastTransitionTime: time,
    reason,
    message,
  });
  const previous = (crd['status'] as { storedVersions?: string[] } | undefined)?.storedVersions ?? [];
  const storage = spec.versions.find((v) => v.storage)?.name;
  return {
    acceptedNames: names,
    conditions: [
      condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    storedVersions: [...new Set([...previous, ...(storage ? [storage] : [])])],
  };
}

export function isEstablished(crd: KubeObject): boolean {
  const conditions = (crd['status'] as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}
