// Integration tests of functions: a real API server with every CRD the functions touch
// (local-cluster/control-plane/api-server-only.ts), and the events and context the functions get.
import { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import type { Obj } from '../../functions/shared/kube/client.ts';

export {
  startTestApi,
  waitForCrdsServed,
  yamlFiles,
  type KubectlResult,
  type TestApi,
} from '../../local-cluster/control-plane/api-server-only.ts';

/** The CloudEvent an ApiServerSource would deliver for `object`. */
export function apiServerEvent(object: Obj, verb: 'add' | 'update' | 'delete' = 'update'): CloudEvent<Obj> {
  return new CloudEvent<Obj>({
    type: `dev.knative.apiserver.resource.${verb}`,
    source: 'https://127.0.0.1',
    subject: `/apis/${object.apiVersion}/namespaces/${object.metadata?.namespace}/x/${object.metadata?.name}`,
    kind: object.kind,
    name: object.metadata?.name,
    namespace: object.metadata?.namespace,
    apiversion: object.apiVersion,
    datacontenttype: 'application/json',
    data: object,
  });
}

export const noContext = {} as Context;
