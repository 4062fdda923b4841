// Label selectors (equality and set-based) and field selectors, parsed as Kubernetes does.
import { badRequest } from './errors.ts';
import type { KubeObject } from './types.ts';

export type LabelRequirement =
  | { op: 'exists' | 'notexists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'gt' | 'lt'; key: string; value: number };

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

export function parseLabelSelector(text: string | undefined): LabelRequirement[] {
  if (!text) return [];
  return splitTopLevel(text).map((part) => {
    let m = /^([^\s!=<>()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    if (m) {
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      return { op: m[2] as 'in' | 'notin', key: m[1] as string, values };
    }
    m = /^!\s*([^\s!=<>()]+)$/.exec(part);
    if (m) return { op: 'notexists', key: m[1] as string };
    m = /^([^\s!=<>()]+)\s*(==|=|!=)\s*([^\s!=<>()]*)$/.exec(part);
    if (m) {
      const key = m[1] as string;
      const value = m[3] as string;
      return m[2] === '!=' ? { op: 'notin', key, values: [value] } : { op: 'in', key, values: [value] };
    }
    m = /^([^\s!=<>()]+)\s*([<>])\s*(\d+)$/.exec(part);
    if (m) return { op: m[2] === '>' ? 'gt' : 'lt', key: m[1] as string, value: Number(m[3]) };
    m = /^([^\s!=<>()]+)$/.exec(part);
    if (m) return { op: 'exists', key: m[1] as string };
    throw badRequest(`unable to parse requirement: invalid label selector "${text}"`);
  });
}

export function matchesLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const value = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case 'notexists':
        return !has;
      case 'in':
        return has && r.values.includes(value as string);
      case 'notin':
        return !has || !r.values.includes(value as string);
      case 'gt':
        return has && Number(value) > r.value;
      case 'lt':
        return has && Number(value) < r.value;
    }
  });
}

export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

export function parseFieldSelector(text: string | undefined): FieldRequirement[] {
  if (!text) return [];
  return splitTopLevel(text).map((part) => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    return { field: (m[1] as string).trim(), value: (m[3] as string).trim(), negate: m[2] === '!=' };
  });
}

/** The string value of a dotted field path; absent fields read as "" like Kubernetes field sets. */
export function fieldValue(obj: KubeObject, path: string): string {
  let current: unknown = obj;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[part];
  }
  if (current === undefined || current === null) return '';
  return typeof current === 'object' ? JSON.stringify(current) : String(current);
}

export function matchesFields(reqs: FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => (fieldValue(obj, r.field) === r.value) !== r.negate);
}

export interface Selector {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
  namespace?: string;
}

export function matches(sel: Selector, obj: KubeObject): boolean {
  if (sel.namespace && obj.metadata.namespace !== sel.namespace) return false;
  return matchesLabels(sel.labels, obj.metadata.labels) && matchesFields(sel.fields, obj);
}
