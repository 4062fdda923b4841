// Legacy discovery documents: /api, /apis, /apis/<group>, /api/v1 and /apis/<group>/<version>.
import { createHash } from 'node:crypto';
import type { Registry } from './registry.ts';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-12-11T00:00:00Z',
  goVersion: 'go1.23.3',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function coreVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupEntry(name: string, versions: string[]): object {
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: list, preferredVersion: list[0] };
}

export function groupList(registry: Registry): object {
  const groups = registry
    .groups()
    .filter((g) => g.name !== '')
    .map((g) => groupEntry(g.name, g.versions));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function group(registry: Registry, name: string): object | undefined {
  const g = registry.groups().find((x) => x.name === name && name !== '');
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupEntry(g.name, g.versions) } : undefined;
}

export function resourceList(registry: Registry, groupName: string, version: string): object | undefined {
  const infos = registry.inGroupVersion(groupName, version);
  if (infos.length === 0) return undefined;
  const resources: object[] = [];
  for (const r of infos) {
    const hash = createHash('sha256')
      .update(`${r.group}/${r.version}/${r.kind}`)
      .digest('base64')
      .slice(0, 11);
    resources.push({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
      storageVersionHash: hash,
    });
    if (r.group === '' && r.resource === 'pods') {
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    }
    if (r.statusSubresource) {
      resources.push({
        name: `${r.resource}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupName ? `${groupName}/${version}` : version,
    resources,
  };
}

export const AGGREGATED_DISCOVERY_CONTENT_TYPE =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Whether an Accept header asks for aggregated discovery v2 (kubectl 1.30+ does, with a legacy fallback). */
export function wantsAggregatedDiscovery(accept: string | undefined): boolean {
  return (accept ?? '')
    .split(',')
    .some(
      (t) =>
        /as=APIGroupDiscoveryList/.test(t) &&
        /(^|;)\s*v=v2(\s*;|$)/.test(t) &&
        /g=apidiscovery\.k8s\.io/.test(t),
    );
}

/** apidiscovery.k8s.io/v2 APIGroupDiscoveryList for /api (core only) or /apis (all named groups). */
export function aggregatedDiscovery(registry: Registry, core: boolean): object {
  const items = registry
    .groups()
    .filter((g) => (core ? g.name === '' : g.name !== ''))
    .map((g) => ({
      metadata: { name: g.name, creationTimestamp: null },
      versions: g.versions.map((version) => ({
        version,
        freshness: 'Current',
        resources: registry.inGroupVersion(g.name, version).map((r) => {
          const responseKind = { group: r.group, version: r.version, kind: r.kind };
          return {
            resource: r.resource,
            responseKind,
            scope: r.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: r.singular,
            verbs: r.verbs,
            ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
            ...(r.categories.length ? { categories: r.categories } : {}),
            ...(r.statusSubresource
              ? { subresources: [{ subresource: 'status', responseKind, verbs: ['get', 'patch', 'update'] }] }
              : {}),
          };
        }),
      })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}
