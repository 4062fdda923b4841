// Maps a request path to what it addresses: a discovery document or a resource request.
import type { Registry } from './registry.ts';

export type Route =
  | { type: 'version' }
  | { type: 'health' }
  | { type: 'coreVersions' }
  | { type: 'groupList' }
  | { type: 'group'; group: string }
  | { type: 'resourceList'; group: string; version: string }
  | { type: 'openapiV2' }
  | { type: 'openapiV3Root' }
  | { type: 'openapiV3Doc'; path: string }
  | {
      type: 'resource';
      group: string;
      version: string;
      resource: string;
      namespace?: string;
      name?: string;
      subresource?: string;
      watchPath: boolean;
    }
  | { type: 'unknown' };

export function route(pathname: string, registry: Registry): Route {
  const segs = pathname
    .split('/')
    .filter((s) => s !== '')
    .map((s) => decodeURIComponent(s));
  const [first, second, third] = segs;
  if (first === 'version' && segs.length === 1) return { type: 'version' };
  if ((first === 'healthz' || first === 'livez' || first === 'readyz') && segs.length <= 2)
    return { type: 'health' };
  if (first === 'openapi') {
    if (second === 'v2' && segs.length === 2) return { type: 'openapiV2' };
    if (second === 'v3' && segs.length === 2) return { type: 'openapiV3Root' };
    if (second === 'v3') return { type: 'openapiV3Doc', path: segs.slice(2).join('/') };
    return { type: 'unknown' };
  }
  let group: string;
  let version: string | undefined;
  let rest: string[];
  if (first === 'api') {
    if (segs.length === 1) return { type: 'coreVersions' };
    group = '';
    version = second;
    rest = segs.slice(2);
  } else if (first === 'apis') {
    if (segs.length === 1) return { type: 'groupList' };
    if (segs.length === 2) return { type: 'group', group: second as string };
    group = second as string;
    version = third;
    rest = segs.slice(3);
  } else {
    return { type: 'unknown' };
  }
  if (version === undefined) return { type: 'unknown' };
  if (rest.length === 0) return { type: 'resourceList', group, version };
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const candidate = registry.byResource(group, version, rest[2] as string);
    if (candidate?.namespaced) {
      const [, namespace, resource, name, subresource] = rest;
      if (rest.length > 5) return { type: 'unknown' };
      return {
        type: 'resource',
        group,
        version,
        resource: resource as string,
        namespace,
        name,
        subresource,
        watchPath,
      };
    }
  }
  if (rest.length > 3) return { type: 'unknown' };
  const [resource, name, subresource] = rest;
  return { type: 'resource', group, version, resource: resource as string, name, subresource, watchPath };
}
