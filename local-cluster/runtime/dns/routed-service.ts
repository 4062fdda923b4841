// A Service the runtime routes itself (a Knative Service's address, the broker ingress): a
// selectorless ClusterIP Service created in the API server like any other, so its cluster IP
// comes from the API server's allocator and never collides with another Service's.
import type { RuntimeContext } from '../context.ts';
import type { KubeObject } from '../../../functions/shared/kube/client.ts';

export interface ServiceOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/** Creates the Service when missing and returns its cluster IP. */
export async function ensureRoutedService(
  ctx: RuntimeContext,
  name: string,
  namespace: string,
  ports: number[],
  owner?: ServiceOwner,
): Promise<string> {
  await ctx.kube.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const { object: svc } = await ctx.kube.ensure<KubeObject>({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'vm-import-local-cluster' },
      ...(owner ? { ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }] } : {}),
    },
    spec: {
      type: 'ClusterIP',
      ports: ports.map((port) => ({ name: `http-${port}`, port, protocol: 'TCP' })),
    },
  });
  const ip = (svc.spec as { clusterIP?: string } | undefined)?.clusterIP;
  if (!ip || ip === 'None') throw new Error(`Service ${namespace}/${name} has no cluster IP`);
  return ip;
}
