// CloudEvents exactly as Knative's ApiServerSource emits them in `mode: Resource`
// (knative.dev/eventing pkg/adapter/apiserver/events): type dev.knative.apiserver.resource.*,
// source = the API server URL the adapter talks to, subject = a selfLink-like path built with
// Kubernetes' UnsafeGuessKindToResource (so core objects get "/apis/v1/...", like upstream),
// extensions kind/name/namespace (+ apiversion), data = the whole object as JSON.
import { randomUUID } from 'node:crypto';
import { CloudEvent } from 'cloudevents';

export type ApiServerEventKind = 'add' | 'update' | 'delete';

export interface KubeObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
}

export const API_SERVER_EVENT_TYPES: Record<ApiServerEventKind, string> = {
  add: 'dev.knative.apiserver.resource.add',
  update: 'dev.knative.apiserver.resource.update',
  delete: 'dev.knative.apiserver.resource.delete',
};

/** Kubernetes' meta.UnsafeGuessKindToResource plural rule. */
export function guessPlural(kind: string): string {
  const singular = kind.toLowerCase();
  if (singular === '') return '';
  if (singular.endsWith('endpoints')) return singular;
  if (singular.endsWith('s')) return `${singular}es`;
  if (singular.endsWith('y')) return `${singular.slice(0, -1)}ies`;
  return `${singular}s`;
}

/** Upstream createSelfLink: "/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>". */
export function apiServerSubject(obj: KubeObjectLike): string {
  let version = obj.apiVersion ?? '';
  if (version.includes('.') && !version.includes('/')) version = `${version}/versionUnknown`;
  const ns = obj.metadata?.namespace ?? '';
  return `/apis/${version}/namespaces/${ns}/${guessPlural(obj.kind ?? '')}/${obj.metadata?.name ?? ''}`;
}

export function makeApiServerEvent(
  source: string,
  kind: ApiServerEventKind,
  obj: KubeObjectLike,
  now: Date = new Date(),
): CloudEvent<KubeObjectLike> {
  return new CloudEvent<KubeObjectLike>(
    {
      specversion: '1.0',
      id: randomUUID(),
      type: API_SERVER_EVENT_TYPES[kind],
      source,
      subject: apiServerSubject(obj),
      time: now.toISOString(),
      datacontenttype: 'application/json',
      kind: obj.kind ?? '',
      name: obj.metadata?.name ?? '',
      namespace: obj.metadata?.namespace ?? '',
      apiversion: obj.apiVersion ?? '',
      data: obj,
    },
    false,
  );
}
