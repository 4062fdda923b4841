// meta.k8s.io/v1 Table responses for `kubectl get`: the built-in printers (printers.ts), or a
// CRD's additionalPrinterColumns evaluated with JSONPath for custom resources.
import { JSONPath } from 'jsonpath-plus';
import { humanDuration } from './age.ts';
import type { TableColumn } from './printers.ts';
import { builtinPrinter, NAME_COLUMN } from './printers.ts';
import type { KubeObject, PrinterColumn, ResourceInfo } from './types.ts';

export type { TableColumn } from './printers.ts';
export { humanDuration } from './age.ts';

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumn[];
  rows: { cells: unknown[]; object: unknown }[];
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

const AGE_DATE_COLUMN: TableColumn = {
  name: 'Age',
  type: 'date',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
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

function columnsFor(info: ResourceInfo): {
  columns: TableColumn[];
  cells: (obj: KubeObject, nowMs: number) => unknown[];
} {
  if (info.crd) {
    const printer: PrinterColumn[] = info.printerColumns ?? [];
    if (printer.length === 0) {
      return {
        columns: [NAME_COLUMN, AGE_DATE_COLUMN],
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
  return builtinPrinter(info);
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
