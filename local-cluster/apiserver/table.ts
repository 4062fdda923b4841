// meta.k8s.io/v1 Table responses for `kubectl get`: NAME/AGE for built-ins, a CRD's
// additionalPrinterColumns evaluated with JSONPath for custom resources.
import { JSONPath } from 'jsonpath-plus';
import type { KubeObject, PrinterColumn, ResourceInfo } from './types.ts';

export interface TableColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumn[];
  rows: { cells: unknown[]; object: unknown }[];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** kube's duration.HumanDuration, as kubectl prints ages. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (years < 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

function age(obj: KubeObject, nowMs: number): string {
  const created = obj.metadata.creationTimestamp;
  return created ? humanDuration(nowMs - Date.parse(created)) : '<unknown>';
}

const NAME_COLUMN: TableColumn = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description:
    'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.',
  priority: 0,
};

/** Evaluates a Kubernetes printer-column JSONPath (`.status.phase`) against an object. */
export function evaluateJsonPath(obj: unknown, path: string): unknown {
  const expr = path.startsWith('$')
    ? path
    : `$${path.startsWith('.') || path.startsWith('[') ? '' : '.'}${path}`;
  const results = JSONPath({ path: expr, json: obj as object, wrap: true }) as unknown[];
  if (results.length === 0) return undefined;
  if (results.length === 1) return results[0];
  return results.map((r) => (typeof r === 'object' ? JSON.stringify(r) : String(r))).join(',');
}

function cell(value: unknown, type: string, nowMs: number): unknown {
  if (value === undefined || value === null) return null;
  // like the apiextensions table convertor, date columns are rendered as an age
  if (type === 'date')
    return typeof value === 'string' && !Number.isNaN(Date.parse(value))
      ? humanDuration(nowMs - Date.parse(value))
      : '<invalid>';
  if (typeof value === 'object') return JSON.stringify(value);
  if (type === 'integer' && typeof value === 'number') return Math.trunc(value);
  return value;
}

interface BuiltinColumns {
  columns: TableColumn[];
  cells: (obj: KubeObject) => unknown[];
}

function builtinExtra(info: ResourceInfo): BuiltinColumns {
  const status = (obj: KubeObject): Record<string, unknown> =>
    (obj['status'] ?? {}) as Record<string, unknown>;
  const column = (name: string, description: string): TableColumn => ({
    name,
    type: 'string',
    format: '',
    description,
    priority: 0,
  });
  switch (`${info.group}/${info.resource}`) {
    case '/namespaces':
      return {
        columns: [column('Status', 'The status of the namespace')],
        cells: (o) => [status(o)['phase'] ?? ''],
      };
    case '/pods':
      return {
        columns: [column('Status', 'The aggregate status of the containers in this pod.')],
        cells: (o) => [o.metadata.deletionTimestamp ? 'Terminating' : (status(o)['phase'] ?? '')],
      };
    case '/persistentvolumeclaims':
      return {
        columns: [column('Status', 'The phase of the claim')],
        cells: (o) => [status(o)['phase'] ?? ''],
      };
    case '/services':
      return {
        columns: [
          column('Type', 'The type of the service'),
          column('Cluster-IP', 'The cluster IP of the service'),
        ],
        cells: (o) => {
          const spec = (o['spec'] ?? {}) as Record<string, unknown>;
          return [spec['type'] ?? 'ClusterIP', spec['clusterIP'] ?? '<none>'];
        },
      };
    case 'batch/jobs':
      return {
        columns: [column('Status', 'Status of the job')],
        cells: (o) => {
          const conditions = (status(o)['conditions'] ?? []) as { type: string; status: string }[];
          const done = conditions.find(
            (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
          );
          return [done ? done.type : 'Running'];
        },
      };
    default:
      return { columns: [], cells: () => [] };
  }
}

function columnsFor(info: ResourceInfo): {
  columns: TableColumn[];
  cells: (obj: KubeObject, nowMs: number) => unknown[];
} {
  if (info.crd) {
    const printer: PrinterColumn[] = info.printerColumns ?? [];
    if (printer.length === 0) {
      return {
        columns: [
          NAME_COLUMN,
          {
            name: 'Age',
            type: 'date',
            format: '',
            description:
              'CreationTimestamp is a timestamp representing the server time when this object was created.',
            priority: 0,
          },
        ],
        cells: (obj, nowMs) => [obj.metadata.name, cell(obj.metadata.creationTimestamp, 'date', nowMs)],
      };
    }
    return {
      columns: [
        NAME_COLUMN,
        ...printer.map((c) => ({
          name: c.name,
          type: c.type,
          format: c.format ?? '',
          description: c.description ?? '',
          priority: c.priority ?? 0,
        })),
      ],
      cells: (obj, nowMs) => [
        obj.metadata.name,
        ...printer.map((c) => cell(evaluateJsonPath(obj, c.jsonPath), c.type, nowMs)),
      ],
    };
  }
  const extra = builtinExtra(info);
  return {
    columns: [
      NAME_COLUMN,
      ...extra.columns,
      {
        name: 'Age',
        type: 'string',
        format: '',
        description:
          'CreationTimestamp is a timestamp representing the server time when this object was created.',
        priority: 0,
      },
    ],
    cells: (obj, nowMs) => [obj.metadata.name, ...extra.cells(obj), age(obj, nowMs)],
  };
}

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function toTable(
  info: ResourceInfo,
  objects: KubeObject[],
  opts: { include: IncludeObject; noHeaders?: boolean; listMeta?: Table['metadata'] },
): Table {
  const { columns, cells } = columnsFor(info);
  const nowMs = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: opts.listMeta ?? {},
    columnDefinitions: opts.noHeaders ? [] : columns,
    rows: objects.map((obj) => ({ cells: cells(obj, nowMs), object: rowObject(obj, opts.include) })),
  };
}
