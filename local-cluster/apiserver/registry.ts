// Which group/version/resources are served: the built-ins plus whatever established CRDs define.
import { ALL_VERBS, builtinResources } from './builtins.ts';
import type { JSONSchemaProps, KubeObject, PrinterColumn, ResourceInfo } from './types.ts';
import { apiVersionOf } from './types.ts';

/** Kubernetes version priority: GA > beta > alpha, higher numbers first, others last alphabetically. */
export function compareVersionPriority(a: string, b: string): number {
  const rank = (v: string): [number, number, number, string] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [3, 0, 0, v];
    const stage = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
    return [stage, -Number(m[1]), -Number(m[3] ?? 0), v];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < 3; i++) {
    const d = (ra[i] as number) - (rb[i] as number);
    if (d !== 0) return d;
  }
  return ra[3] < rb[3] ? -1 : ra[3] > rb[3] ? 1 : 0;
}

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  schema?: { openAPIV3Schema?: JSONSchemaProps };
  subresources?: { status?: unknown };
  additionalPrinterColumns?: PrinterColumn[];
}

export interface CrdSpec {
  group: string;
  scope: 'Namespaced' | 'Cluster';
  names: {
    plural: string;
    singular?: string;
    kind: string;
    listKind?: string;
    shortNames?: string[];
    categories?: string[];
  };
  versions: CrdVersion[];
}

/** The resources a CustomResourceDefinition serves, one per served version. */
export function resourcesFromCrd(crd: KubeObject): ResourceInfo[] {
  const spec = crd['spec'] as CrdSpec;
  return spec.versions
    .filter((v) => v.served !== false)
    .map((v) => ({
      group: spec.group,
      version: v.name,
      resource: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
      namespaced: spec.scope === 'Namespaced',
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      verbs: ALL_VERBS,
      statusSubresource: v.subresources?.status !== undefined,
      crd: crd.metadata.name as string,
      schema: v.schema?.openAPIV3Schema,
      printerColumns: v.additionalPrinterColumns ?? [],
      storageKey: `${spec.group}/${spec.names.plural}`,
    }));
}

export class Registry {
  private readonly resources: ResourceInfo[] = [];
  /** Bumped on every change, so cached discovery/openapi documents can be recomputed. */
  generation = 0;

  constructor() {
    this.resources.push(...builtinResources());
  }

  all(): readonly ResourceInfo[] {
    return this.resources;
  }

  setCrdResources(crdName: string, infos: ResourceInfo[]): void {
    this.removeCrd(crdName);
    this.resources.push(...infos);
    this.generation++;
  }

  removeCrd(crdName: string): void {
    for (let i = this.resources.length - 1; i >= 0; i--) {
      if (this.resources[i]?.crd === crdName) this.resources.splice(i, 1);
    }
    this.generation++;
  }

  byResource(group: string, version: string, resource: string): ResourceInfo | undefined {
    return this.resources.find((r) => r.group === group && r.version === version && r.resource === resource);
  }

  byKind(apiVersion: string, kind: string): ResourceInfo | undefined {
    return this.resources.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
  }

  byStorageKey(storageKey: string): ResourceInfo[] {
    return this.resources.filter((r) => r.storageKey === storageKey);
  }

  /** Groups with their served versions in priority order (first is preferred); core group is ''. */
  groups(): { name: string; versions: string[] }[] {
    const byGroup = new Map<string, Set<string>>();
    for (const r of this.resources) {
      let versions = byGroup.get(r.group);
      if (!versions) byGroup.set(r.group, (versions = new Set()));
      versions.add(r.version);
    }
    return [...byGroup].map(([name, versions]) => ({
      name,
      versions: [...versions].sort(compareVersionPriority),
    }));
  }

  inGroupVersion(group: string, version: string): ResourceInfo[] {
    return this.resources.filter((r) => r.group === group && r.version === version);
  }
}
