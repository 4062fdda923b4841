// Building blocks shared by the migration.harvesterhci.io/v1beta1 kinds. Field names, enums and
// spellings follow the upstream vm-import-controller (pkg/apis/migration.harvesterhci.io/v1beta1) so that
// its objects keep working; every field carries the description `kubectl explain` shows.
import { z } from 'zod';

export const GROUP = 'migration.harvesterhci.io';
export const VERSION = 'v1beta1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Upstream schemas make every string nullable and nothing required (wrangler's generator). */
export const optionalString = (description: string) => z.string().nullish().describe(description);

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);

export const Condition = z
  .object({
    type: z.string().describe('Kind of condition, e.g. ClusterReady, VMExported, VirtualMachineImageReady.'),
    status: ConditionStatus.describe('"True", "False" or "Unknown".'),
    lastUpdateTime: optionalString('Last time the condition was written (RFC 3339).'),
    lastTransitionTime: optionalString('Last time the condition changed status (RFC 3339).'),
    reason: optionalString('One-word CamelCase reason for the last transition, for machines.'),
    message: optionalString('What happened and, for failures, what to do about it, for humans.'),
  })
  .describe('A condition of the object, keyed by type.');
export type Condition = z.infer<typeof Condition>;

export const SecretReference = z
  .object({
    name: optionalString('Name of the Secret.'),
    namespace: optionalString('Namespace of the Secret.'),
  })
  .describe('Reference to a Secret holding the credentials.');
export type SecretReference = z.infer<typeof SecretReference>;

export const ClusterStatus = z.enum(['clusterReady', 'clusterNotReady', '']);
export type ClusterStatus = z.infer<typeof ClusterStatus>;
export const CLUSTER_READY = 'clusterReady';
export const CLUSTER_NOT_READY = 'clusterNotReady';

/** Condition types of sources (upstream common.go). */
export const SourceConditionType = { ClusterReady: 'ClusterReady', ClusterError: 'ClusterError' } as const;

export const SourceStatus = z
  .object({
    status: ClusterStatus.nullish().describe(
      'clusterReady once the endpoint and credentials were verified, clusterNotReady when verification failed (the ClusterError condition says why).',
    ),
    conditions: z
      .array(Condition)
      .nullish()
      .describe('ClusterReady and ClusterError, each with a reason and a message.'),
    observedGeneration: z
      .number()
      .int()
      .nullish()
      .describe('The metadata.generation of the spec the status was computed from.'),
  })
  .describe('Observed state of the source, written by the source verification function.');
export type SourceStatus = z.infer<typeof SourceStatus>;

/** The parts of ObjectMeta the functions read; everything else is kept as is. */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  // client-node's generic object API hands timestamps over as Date objects, the wire as strings.
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).nullish(),
  labels: z.record(z.string(), z.string()).nullish(),
  annotations: z.record(z.string(), z.string()).nullish(),
  finalizers: z.array(z.string()).nullish(),
  ownerReferences: z.array(z.looseObject({})).nullish(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** A namespaced object of one of our kinds: apiVersion, kind, metadata, spec, status. */
export function resourceSchema<K extends string, S extends z.ZodType, T extends z.ZodType>(
  kind: K,
  spec: S,
  status: T,
  description: string,
) {
  return z
    .object({
      apiVersion: z.literal(API_VERSION),
      kind: z.literal(kind),
      metadata: ObjectMeta,
      spec: spec,
      status: status.optional(),
    })
    .describe(description);
}
