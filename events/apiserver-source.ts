// CloudEvents as Knative's ApiServerSource emits them in Resource mode
// (knative.dev/eventing pkg/adapter/apiserver/events): the whole object as data, and the
// extensions kind/name/namespace/apiversion that Triggers filter on.
import { z } from 'zod';

export const ApiServerSourceEventType = {
  Add: 'dev.knative.apiserver.resource.add',
  Update: 'dev.knative.apiserver.resource.update',
  Delete: 'dev.knative.apiserver.resource.delete',
} as const;
export type ApiServerSourceEventType =
  (typeof ApiServerSourceEventType)[keyof typeof ApiServerSourceEventType];

/** A Kubernetes object as carried in `data`: only what routing needs is checked. */
export const KubernetesObject = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
  }),
});
export type KubernetesObject = z.infer<typeof KubernetesObject>;

/** `/apis/<group>/<version>/namespaces/<ns>/<plural>/<name>` (`/apis/v1/...` for the core group). */
export const SUBJECT_PATTERN = /^\/apis?\/(?:[^/]+\/)?[^/]+\/(?:namespaces\/[^/]+\/)?[^/]+\/[^/]+$/;

export const ApiServerSourceEvent = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  type: z.enum([
    ApiServerSourceEventType.Add,
    ApiServerSourceEventType.Update,
    ApiServerSourceEventType.Delete,
  ]),
  /** The API server's URL, e.g. https://10.96.0.1:443. */
  source: z.string().min(1),
  subject: z.string().regex(SUBJECT_PATTERN),
  time: z.string().optional(),
  datacontenttype: z.literal('application/json').optional(),
  kind: z.string(),
  name: z.string(),
  namespace: z.string().optional(),
  apiversion: z.string(),
  data: KubernetesObject,
});
export type ApiServerSourceEvent = z.infer<typeof ApiServerSourceEvent>;

/**
 * The subject ApiServerSource sets for an object. Knative's adapter writes `/apis/<apiVersion>/...`
 * for every group, the core group included (`/apis/v1/namespaces/...`), unlike the API paths.
 */
export function subjectOf(object: KubernetesObject, plural: string): string {
  const ns = object.metadata.namespace ? `/namespaces/${object.metadata.namespace}` : '';
  return `/apis/${object.apiVersion}${ns}/${plural}/${object.metadata.name}`;
}
