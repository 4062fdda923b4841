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
