// Knative eventing objects generated from the routing table in events/routing.ts.
import {
  APISERVER_SOURCE,
  BROKER,
  FUNCTION_NAMES,
  NAMESPACE,
  PING_SOURCE,
  ROUTING,
  WATCHED_RESOURCES,
  knativeServiceName,
  type FunctionName,
  type Route,
} from '../../events/routing.ts';
import { RESYNC_PING_DATA } from '../../events/ping.ts';
import { settings } from './settings.ts';

type Manifest = Record<string, unknown>;

const brokerRef = { apiVersion: 'eventing.knative.dev/v1', kind: 'Broker', name: BROKER };
const serviceRef = (fn: FunctionName) => ({
  apiVersion: 'serving.knative.dev/v1',
  kind: 'Service',
  name: knativeServiceName(fn),
});

export function broker(): Manifest {
  return {
    apiVersion: 'eventing.knative.dev/v1',
    kind: 'Broker',
    metadata: {
      name: BROKER,
      namespace: NAMESPACE,
      annotations: { 'eventing.knative.dev/broker.class': settings.brokerClass },
    },
    spec: {
      delivery: {
        retry: settings.delivery.retry,
        backoffPolicy: 'exponential',
        backoffDelay: settings.delivery.backoffDelay,
        timeout: settings.delivery.timeout,
        deadLetterSink: { ref: serviceRef('dead-letter') },
      },
    },
  };
}

const APISERVER_SOURCE_SA = `${APISERVER_SOURCE}`;

function pluralOf(kind: string): string {
  return `${kind.toLowerCase()}s`;
}

export function apiServerSource(): Manifest[] {
  const groups = new Map<string, Set<string>>();
  for (const r of WATCHED_RESOURCES) {
    const group = r.apiVersion.includes('/') ? r.apiVersion.split('/')[0]! : '';
    groups.set(group, (groups.get(group) ?? new Set()).add(pluralOf(r.kind)));
  }
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: APISERVER_SOURCE_SA, namespace: NAMESPACE },
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: APISERVER_SOURCE_SA },
      rules: [...groups].map(([group, resources]) => ({
        apiGroups: [group],
        resources: [...resources].sort(),
        verbs: ['get', 'list', 'watch'],
      })),
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: APISERVER_SOURCE_SA },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: APISERVER_SOURCE_SA },
      subjects: [{ kind: 'ServiceAccount', name: APISERVER_SOURCE_SA, namespace: NAMESPACE }],
    },
    {
      apiVersion: 'sources.knative.dev/v1',
      kind: 'ApiServerSource',
      metadata: { name: APISERVER_SOURCE, namespace: NAMESPACE },
      spec: {
        mode: 'Resource',
        serviceAccountName: APISERVER_SOURCE_SA,
        // Without a selector a v1 ApiServerSource watches only its own namespace.
        namespaceSelector: {},
        resources: WATCHED_RESOURCES.map((r) => ({
          apiVersion: r.apiVersion,
          kind: r.kind,
          ...(r.labelSelectorExists
            ? { selector: { matchExpressions: [{ key: r.labelSelectorExists, operator: 'Exists' }] } }
            : {}),
        })),
        sink: { ref: { ...brokerRef, namespace: NAMESPACE } },
      },
    },
  ];
}

export function pingSource(): Manifest {
  return {
    apiVersion: 'sources.knative.dev/v1',
    kind: 'PingSource',
    metadata: { name: PING_SOURCE, namespace: NAMESPACE },
    spec: {
      schedule: settings.resyncSchedule,
      contentType: 'application/json',
      data: JSON.stringify(RESYNC_PING_DATA),
      sink: { ref: { ...brokerRef, namespace: NAMESPACE } },
    },
  };
}

/**
 * Trigger filters in the subscriptions API dialect (`filters`, ANDed): one `exact` per attribute
 * (Knative allows one key per exact filter), and `any` of the accepted types.
 */
export function filtersOf(route: Route): Manifest[] {
  const filters: Manifest[] = [];
  if (route.kind) filters.push({ exact: { kind: route.kind } });
  if (route.apiVersion) filters.push({ exact: { apiversion: route.apiVersion } });
  const types = route.types.map((type) => ({ exact: { type } }));
  filters.push(types.length === 1 ? types[0]! : { any: types });
  return filters;
}

export function triggers(): Manifest[] {
  return FUNCTION_NAMES.flatMap((fn) =>
    (ROUTING[fn].routes as readonly Route[]).map((route) => ({
      apiVersion: 'eventing.knative.dev/v1',
      kind: 'Trigger',
      metadata: {
        name: `${knativeServiceName(fn)}-${route.kind ? route.kind.toLowerCase() : 'ping'}`,
        namespace: NAMESPACE,
        labels: { 'functions.vm-import.harvesterhci.io/name': fn },
      },
      spec: { broker: BROKER, filters: filtersOf(route), subscriber: { ref: serviceRef(fn) } },
    })),
  );
}
