// Services whose endpoints the local cluster writes itself, as EndpointSlices kube-proxy then
// routes: a Knative Service's address (its ready revision pod) and the servers the supervisor
// runs on the host's link address (a fault proxy, cluster DNS). Selectorless, so
// the EndpointSlice controller leaves them to us (the EndpointSlice mirroring rules,
// pkg/controller/endpointslice: managed-by label other than the controller's own).
import type { RuntimeContext } from '../context.ts';
import { isApiError, type KubeObject } from '../../../functions/shared/kube/client.ts';

export interface ServiceOwner {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface RoutedPort {
  name: string;
  /** The Service's port. */
  port: number;
  /** Where the endpoints listen. */
  targetPort: number;
  protocol?: 'TCP' | 'UDP';
}

const MANAGED_BY = 'vm-import-local-cluster';

/** Creates the Service when missing; returns its cluster IP. */
export async function ensureRoutedService(
  ctx: Pick<RuntimeContext, 'kube'>,
  name: string,
  namespace: string,
  ports: RoutedPort[],
  options: { owner?: ServiceOwner; clusterIP?: string } = {},
): Promise<string> {
  await ctx.kube.ensure({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  // Read first: creating a Service that exists with a fixed clusterIP fails on the allocation
  // (422), not with AlreadyExists.
  const svc =
    (await ctx.kube.find<KubeObject>('v1', 'Service', namespace, name)) ??
    (
      await ctx.kube.ensure<KubeObject>({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/managed-by': MANAGED_BY },
          ...(options.owner
            ? { ownerReferences: [{ ...options.owner, controller: true, blockOwnerDeletion: true }] }
            : {}),
        },
        spec: {
          type: 'ClusterIP',
          ...(options.clusterIP ? { clusterIP: options.clusterIP } : {}),
          ports: ports.map((p) => ({
            name: p.name,
            port: p.port,
            targetPort: p.targetPort,
            protocol: p.protocol ?? 'TCP',
          })),
        },
      })
    ).object;
  const ip = (svc.spec as { clusterIP?: string } | undefined)?.clusterIP;
  if (!ip || ip === 'None') throw new Error(`Service ${namespace}/${name} has no cluster IP`);
  return ip;
}

/** Points the Service at `addresses` (ready endpoints); an empty list leaves it without any. */
export async function publishEndpoints(
  ctx: Pick<RuntimeContext, 'kube'>,
  name: string,
  namespace: string,
  ports: RoutedPort[],
  addresses: string[],
): Promise<void> {
  // Owned by its Service, as the EndpointSlice controller's are: deleted with it.
  const service = await ctx.kube.find('v1', 'Service', namespace, name);
  if (!service) return;
  const slice: KubeObject = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${name}-local`,
      namespace,
      labels: {
        'kubernetes.io/service-name': name,
        'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
      },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          name,
          uid: service.metadata!.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    addressType: 'IPv4',
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
    ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: p.protocol ?? 'TCP' })),
  } as KubeObject;
  // Create, or replace what is there; a conflict means another write won: read and try again.
  for (let attempt = 0; ; attempt++) {
    const existing = await ctx.kube.find('discovery.k8s.io/v1', 'EndpointSlice', namespace, `${name}-local`);
    try {
      if (existing)
        await ctx.kube.replace({
          ...slice,
          metadata: { ...slice.metadata, resourceVersion: existing.metadata!.resourceVersion },
        });
      else await ctx.kube.create(slice);
      return;
    } catch (err) {
      if (attempt >= 3 || !isApiError(err, 409)) throw err;
    }
  }
}
