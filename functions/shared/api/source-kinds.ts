// The source kinds, listed once: KINDS, the adapter map, routing, RBAC and the API's own
// descriptions derive from this list.
export const SOURCE_KINDS = ['VmwareSource', 'OpenstackSource', 'OvaSource'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** "VmwareSource, OpenstackSource or OvaSource", for descriptions and messages. */
export const SOURCE_KIND_LIST = `${SOURCE_KINDS.slice(0, -1).join(', ')} or ${SOURCE_KINDS.at(-1)}`;

/** Upstream matches spec.sourceCluster.kind case-insensitively. */
export function sourceKindOf(kind: string | null | undefined): SourceKind | undefined {
  return SOURCE_KINDS.find((k) => k.toLowerCase() === (kind ?? '').toLowerCase());
}
