// config/examples with the {{...}} placeholders filled from the local cluster's endpoints.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

const EXAMPLES = join(import.meta.dirname, '..', 'config', 'examples');
const PLACEHOLDER = /\{\{([a-zA-Z_.]+)\}\}/g;

function lookup(values: unknown, path: string): string {
  const value = path
    .split('.')
    .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], values);
  if (typeof value !== 'string')
    throw new Error(`config/examples uses {{${path}}}, which the endpoints do not have`);
  return value;
}

/** Replaces placeholders inside string values (so multi-line PEMs need no YAML quoting). */
export function fillPlaceholders(node: unknown, values: unknown): unknown {
  if (typeof node === 'string') return node.replace(PLACEHOLDER, (_, path: string) => lookup(values, path));
  if (Array.isArray(node)) return node.map((n) => fillPlaceholders(n, values));
  if (node && typeof node === 'object')
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fillPlaceholders(v, values)]));
  return node;
}

/** The example file (sources.yaml, imports.yaml) rendered for `kubectl apply -f -`. */
export async function renderExample(file: string, endpoints: unknown): Promise<string> {
  const docs = parseAllDocuments(await readFile(join(EXAMPLES, file), 'utf8'));
  return docs.map((d) => stringify(fillPlaceholders(d.toJS(), endpoints))).join('---\n');
}
