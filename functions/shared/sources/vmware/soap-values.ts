// Reading vim25 SOAP values as node-soap parses them. Polymorphic values (xsi:type) arrive as
// plain objects whose `attributes` hold the type; single elements of a repeated field may arrive
// unwrapped; numbers and booleans arrive as strings. Pure functions, no I/O.

export type SoapNode = Record<string, unknown>;

/** A managed object reference (vim25 ManagedObjectReference). */
export interface MoRef {
  type: string;
  value: string;
}

/** The request form of a ManagedObjectReference for node-soap: `<x type="T">value</x>`. */
export function moRefArg(ref: MoRef): { attributes: { type: string }; $value: string } {
  return { attributes: { type: ref.type }, $value: ref.value };
}

export function isNode(value: unknown): value is SoapNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asArray<T>(value: T | T[] | null | undefined): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function attributes(node: unknown): Record<string, unknown> | undefined {
  return isNode(node) && isNode(node.attributes) ? node.attributes : undefined;
}

/** The xsi:type of a value (node-soap names the attribute `xsi:type` or `<ns>:type`). */
export function xsiType(node: unknown): string | undefined {
  const attrs = attributes(node);
  if (!attrs) return undefined;
  for (const [key, value] of Object.entries(attrs)) {
    if (key.endsWith(':type') && typeof value === 'string') return value.replace(/^.*:/, '');
  }
  return undefined;
}

export function toMoRef(node: unknown): MoRef | undefined {
  const attrs = attributes(node);
  const type = attrs?.type;
  const value = isNode(node) ? node.$value : undefined;
  return typeof type === 'string' && typeof value === 'string' ? { type, value } : undefined;
}

export function text(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  if (isNode(node) && typeof node.$value === 'string') return node.$value;
  return undefined;
}

export function num(node: unknown): number | undefined {
  const t = text(node);
  if (t === undefined || t.trim() === '') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

export function bool(node: unknown): boolean | undefined {
  const t = text(node);
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  return undefined;
}

export function child(node: unknown, key: string): unknown {
  return isNode(node) ? node[key] : undefined;
}

/** The items of an ArrayOfXxx value (`<val xsi:type="ArrayOfVirtualDevice"><VirtualDevice>…`). */
export function arrayItems(node: unknown): unknown[] {
  if (!isNode(node)) return [];
  const keys = Object.keys(node).filter((k) => k !== 'attributes' && k !== '$value');
  return keys.flatMap((k) => asArray(node[k]));
}
