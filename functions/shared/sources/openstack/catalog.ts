// Keystone v3: the password-auth request body, the service catalog and endpoint selection. Pure.
import { SourceError } from '../source-error.ts';
import type { OpenstackCredentials } from './connection.ts';

export interface CatalogEndpoint {
  interface: string;
  region_id?: string;
  region?: string;
  url: string;
}
export interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

/** POST /v3/auth/tokens body: user by name in `domain_name`, token scoped to the project there. */
export function passwordAuthBody(c: OpenstackCredentials): unknown {
  return {
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: c.username, domain: { name: c.domainName }, password: c.password } },
      },
      scope: { project: { name: c.projectName, domain: { name: c.domainName } } },
    },
  };
}

/** The Keystone v3 base URL for an endpoint written with or without the version. */
export function keystoneV3Candidates(endpoint: string): string[] {
  const trimmed = endpoint.replace(/\/+$/, '');
  if (/\/v3$/.test(trimmed)) return [trimmed];
  return [`${trimmed}/v3`];
}

/** Service types we look up, in order of preference (Cinder's v3 type and its newer alias). */
export const SERVICE_TYPES = {
  compute: ['compute'],
  volume: ['block-storage', 'volumev3'],
  image: ['image'],
  network: ['network'],
} as const;
export type ServiceName = keyof typeof SERVICE_TYPES;

export function regionsOf(catalog: CatalogEntry[]): string[] {
  const regions = new Set<string>();
  for (const entry of catalog)
    for (const ep of entry.endpoints) {
      const r = ep.region_id ?? ep.region;
      if (r) regions.add(r);
    }
  return [...regions].sort();
}

/** The public URL of `service` in `region`, or a RegionNotFound / ServiceNotFound SourceError. */
export function selectEndpoint(catalog: CatalogEntry[], service: ServiceName, region: string): string {
  const regions = regionsOf(catalog);
  if (!regions.includes(region))
    throw new SourceError(
      'RegionNotFound',
      `Region "${region}" is not in the service catalog; available regions: ${regions.join(', ') || '(none)'}.`,
    );
  for (const type of SERVICE_TYPES[service]) {
    const entry = catalog.find((e) => e.type === type);
    const ep = entry?.endpoints.find((e) => e.interface === 'public' && (e.region_id ?? e.region) === region);
    if (ep) return ep.url.replace(/\/+$/, '');
  }
  throw new SourceError(
    'ServiceNotFound',
    `The service catalog has no public ${SERVICE_TYPES[service].join(' or ')} endpoint in region "${region}".`,
  );
}

/** Glance and Neutron catalog URLs are usually unversioned; append the API version once. */
export function versioned(url: string, version: string): string {
  return url.endsWith(`/${version}`) ? url : `${url}/${version}`;
}
