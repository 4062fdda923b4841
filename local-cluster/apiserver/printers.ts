// Table columns of the built-in kinds, following kube-apiserver's printers (pkg/printers/internalversion)
// for what `kubectl get` shows: pods' READY/STATUS/RESTARTS, jobs' COMPLETIONS/DURATION, events'
// LAST SEEN/TYPE/REASON/OBJECT/MESSAGE, and so on.
import { humanDuration } from './age.ts';
import type { KubeObject, ResourceInfo } from './types.ts';

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface Printer {
  columns: TableColumn[];
  cells(obj: KubeObject, nowMs: number): unknown[];
}

type Obj = Record<string, unknown>;
const get = (obj: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Obj)[k] : undefined), obj);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const str = (v: unknown, fallback = ''): string =>
  v === undefined || v === null || v === '' ? fallback : String(v);

function col(name: string, description = '', priority = 0, format = ''): TableColumn {
  return { name, type: 'string', format, description, priority };
}

export const NAME_COLUMN = col(
  'Name',
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.',
  0,
  'name',
);
const AGE_COLUMN = col(
  'Age',
  'CreationTimestamp is a timestamp representing the server time when this object was created.',
);

function since(time: unknown, nowMs: number): string {
  return typeof time === 'string' && !Number.isNaN(Date.parse(time))
    ? humanDuration(nowMs - Date.parse(time))
    : '<unknown>';
}

const age = (o: KubeObject, nowMs: number): string => since(o.metadata.creationTimestamp, nowMs);

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  let reason = str(get(o, 'status', 'reason'), str(get(o, 'status', 'phase'), 'Unknown'));
  for (const cs of arr(get(o, 'status', 'containerStatuses'))) {
    const waiting = get(cs, 'state', 'waiting', 'reason');
    const terminated = get(cs, 'state', 'terminated');
    if (waiting) reason = String(waiting);
    else if (terminated)
      reason = str(get(terminated, 'reason'), `ExitCode:${str(get(terminated, 'exitCode'), '0')}`);
  }
  return reason;
}

function accessModes(modes: unknown): string {
  const short: Record<string, string> = {
    ReadWriteOnce: 'RWO',
    ReadOnlyMany: 'ROX',
    ReadWriteMany: 'RWX',
    ReadWriteOncePod: 'RWOP',
  };
  return arr(modes)
    .map((m) => short[String(m)] ?? String(m))
    .join(',');
}

function jobStatus(o: KubeObject): string {
  const conditions = arr(get(o, 'status', 'conditions'));
  const has = (type: string): boolean => conditions.some((c) => c['type'] === type && c['status'] === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('Suspended')) return 'Suspended';
  return 'Running';
}

const PRINTERS: Record<string, Printer> = {
  '/namespaces': {
    columns: [NAME_COLUMN, col('Status', 'The status of the namespace'), AGE_COLUMN],
    cells: (o, n) => [o.metadata.name, str(get(o, 'status', 'phase')), age(o, n)],
  },
  '/pods': {
    columns: [
      NAME_COLUMN,
      col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'The number of times the containers in this pod have been restarted.'),
      AGE_COLUMN,
    ],
    cells: (o, n) => {
      const statuses = arr(get(o, 'status', 'containerStatuses'));
      const total = arr(get(o, 'spec', 'containers')).length;
      const ready = statuses.filter((s) => s['ready'] === true).length;
      const restarts = statuses.reduce((sum, s) => sum + (Number(s['restartCount']) || 0), 0);
      return [o.metadata.name, `${ready}/${total}`, podStatus(o), String(restarts), age(o, n)];
    },
  },
  'batch/jobs': {
    columns: [
      NAME_COLUMN,
      col('Status', 'Status of the job.'),
      col('Completions', 'The completion status of the job.'),
      col('Duration', 'Time required to complete the job.'),
      AGE_COLUMN,
    ],
    cells: (o, n) => {
      const start = get(o, 'status', 'startTime');
      const end = get(o, 'status', 'completionTime');
      const duration =
        typeof start === 'string'
          ? humanDuration((typeof end === 'string' ? Date.parse(end) : n) - Date.parse(start))
          : '';
      return [
        o.metadata.name,
        jobStatus(o),
        `${Number(get(o, 'status', 'succeeded') ?? 0)}/${str(get(o, 'spec', 'completions'), '1')}`,
        duration,
        age(o, n),
      ];
    },
  },
  '/persistentvolumeclaims': {
    columns: [
      NAME_COLUMN,
      col('Status'),
      col('Volume'),
      col('Capacity'),
      col('Access Modes'),
      col('StorageClass'),
      col('VolumeAttributesClass'),
      AGE_COLUMN,
    ],
    cells: (o, n) => [
      o.metadata.name,
      str(get(o, 'status', 'phase')),
      str(get(o, 'spec', 'volumeName')),
      str(get(o, 'status', 'capacity', 'storage')),
      accessModes(get(o, 'status', 'accessModes')),
      str(get(o, 'spec', 'storageClassName')),
      str(get(o, 'spec', 'volumeAttributesClassName'), '<unset>'),
      age(o, n),
    ],
  },
  'apps/deployments': {
    columns: [NAME_COLUMN, col('Ready'), col('Up-to-date'), col('Available'), AGE_COLUMN],
    cells: (o, n) => [
      o.metadata.name,
      `${Number(get(o, 'status', 'readyReplicas') ?? 0)}/${Number(get(o, 'spec', 'replicas') ?? 1)}`,
      Number(get(o, 'status', 'updatedReplicas') ?? 0),
      Number(get(o, 'status', 'availableReplicas') ?? 0),
      age(o, n),
    ],
  },
  '/services': {
    columns: [NAME_COLUMN, col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), AGE_COLUMN],
    cells: (o, n) => [
      o.metadata.name,
      str(get(o, 'spec', 'type'), 'ClusterIP'),
      str(get(o, 'spec', 'clusterIP'), '<none>'),
      str(arr(get(o, 'spec', 'externalIPs')).join(','), '<none>'),
      str(
        arr(get(o, 'spec', 'ports'))
          .map(
            (p) =>
              `${str(p['port'])}${p['nodePort'] ? `:${String(p['nodePort'])}` : ''}/${str(p['protocol'], 'TCP')}`,
          )
          .join(','),
        '<none>',
      ),
      age(o, n),
    ],
  },
  '/secrets': {
    columns: [NAME_COLUMN, col('Type'), col('Data'), AGE_COLUMN],
    cells: (o, n) => [
      o.metadata.name,
      str(o['type'], 'Opaque'),
      Object.keys((o['data'] ?? {}) as Obj).length,
      age(o, n),
    ],
  },
  '/configmaps': {
    columns: [NAME_COLUMN, col('Data'), AGE_COLUMN],
    cells: (o, n) => [
      o.metadata.name,
      Object.keys((o['data'] ?? {}) as Obj).length + Object.keys((o['binaryData'] ?? {}) as Obj).length,
      age(o, n),
    ],
  },
  '/events': {
    columns: [
      col('Last Seen'),
      col('Type'),
      col('Reason'),
      col('Object'),
      col('Subobject', '', 1),
      col('Source', '', 1),
      col('Message'),
      col('First Seen', '', 1),
      col('Count', '', 1),
      { ...NAME_COLUMN, priority: 1 },
    ],
    cells: (o, n) => {
      const last =
        get(o, 'series', 'lastObservedTime') ??
        get(o, 'lastTimestamp') ??
        get(o, 'eventTime') ??
        o.metadata.creationTimestamp;
      const first = get(o, 'firstTimestamp') ?? get(o, 'eventTime') ?? o.metadata.creationTimestamp;
      const involved = (get(o, 'involvedObject') ?? {}) as Obj;
      const source = str(get(o, 'source', 'component'), str(get(o, 'reportingComponent')));
      return [
        since(last, n),
        str(o['type']),
        str(o['reason']),
        `${str(involved['kind']).toLowerCase()}/${str(involved['name'])}`,
        str(involved['fieldPath']),
        source,
        str(o['message']),
        since(first, n),
        Number(get(o, 'count') ?? 1),
        o.metadata.name,
      ];
    },
  },
  'storage.k8s.io/storageclasses': {
    columns: [
      NAME_COLUMN,
      col('Provisioner'),
      col('ReclaimPolicy'),
      col('VolumeBindingMode'),
      col('AllowVolumeExpansion'),
      AGE_COLUMN,
    ],
    cells: (o, n) => [
      o.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true'
        ? `${o.metadata.name} (default)`
        : o.metadata.name,
      str(o['provisioner']),
      str(o['reclaimPolicy'], 'Delete'),
      str(o['volumeBindingMode'], 'Immediate'),
      String(o['allowVolumeExpansion'] === true),
      age(o, n),
    ],
  },
  'apiextensions.k8s.io/customresourcedefinitions': {
    columns: [NAME_COLUMN, col('Created At', '', 0, 'date')],
    cells: (o) => [o.metadata.name, str(o.metadata.creationTimestamp)],
  },
};

const DEFAULT: Printer = {
  columns: [NAME_COLUMN, AGE_COLUMN],
  cells: (o, n) => [o.metadata.name, age(o, n)],
};

export function builtinPrinter(info: ResourceInfo): Printer {
  return PRINTERS[`${info.group}/${info.resource}`] ?? DEFAULT;
}
