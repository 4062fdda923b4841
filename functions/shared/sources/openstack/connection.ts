// What a client needs to reach an OpenStack cloud, built from an OpenstackSource spec and its
// Secret. Pure: no I/O.
import { SourceError } from '../source-error.ts';

export interface OpenstackCredentials {
  username: string;
  password: string;
  projectName: string;
  domainName: string;
  /** PEM CA bundle added to the system roots; TLS is always verified unless `insecureSkipVerify`. */
  caCertPem?: string;
  /** Explicit opt-out of TLS verification (Secret key `insecureSkipVerify: "true"`). */
  insecureSkipVerify: boolean;
}

export interface OpenstackConnection {
  /** Keystone URL as the user wrote it (with or without /v3). */
  endpoint: string;
  region: string;
  credentials: OpenstackCredentials;
}

const REQUIRED = ['username', 'password', 'project_name', 'domain_name'] as const;

/**
 * Reads the Secret keys of upstream (`username`, `password`, `project_name`, `domain_name`,
 * optional `ca_cert`) plus our explicit opt-out `insecureSkipVerify`. `data` holds decoded values.
 */
export function credentialsFromSecret(
  data: Record<string, string | undefined>,
  secretName = 'the secret',
): OpenstackCredentials {
  const missing = REQUIRED.filter((k) => !data[k]);
  if (missing.length)
    throw new SourceError(
      'InvalidSecret',
      `Secret ${secretName} is missing the key(s) ${missing.map((k) => `"${k}"`).join(', ')}; an OpenStack source needs username, password, project_name and domain_name.`,
    );
  const caCertPem = data.ca_cert?.trim();
  if (caCertPem && !caCertPem.includes('-----BEGIN CERTIFICATE-----'))
    throw new SourceError(
      'InvalidSecret',
      `The key "ca_cert" of Secret ${secretName} is not a PEM certificate.`,
    );
  return {
    username: data.username!,
    password: data.password!,
    projectName: data.project_name!,
    domainName: data.domain_name!,
    ...(caCertPem ? { caCertPem } : {}),
    insecureSkipVerify: (data.insecureSkipVerify ?? '').trim().toLowerCase() === 'true',
  };
}

export function connectionFromSpec(
  spec: { endpoint?: string | null; region?: string | null },
  secret: Record<string, string | undefined>,
  secretName?: string,
): OpenstackConnection {
  if (!spec.endpoint) throw new SourceError('InvalidSpec', 'spec.endpoint (the Keystone URL) is empty.');
  let url: URL;
  try {
    url = new URL(spec.endpoint);
  } catch {
    // Not echoed: a malformed URL may still hold a password.
    throw new SourceError(
      'InvalidSpec',
      'spec.endpoint is not a URL; write the Keystone URL, e.g. https://keystone.example.com:5000/v3.',
    );
  }
  if (url.username !== '' || url.password !== '')
    throw new SourceError(
      'InvalidSpec',
      'spec.endpoint contains a user name or password (user:password@host); remove them and put the credentials in the Secret.',
    );
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new SourceError('InvalidSpec', `spec.endpoint must be an http(s) URL, got "${url.protocol}".`);
  if (!spec.region)
    throw new SourceError('InvalidSpec', 'spec.region is empty; name the region to use, e.g. RegionOne.');
  return {
    endpoint: spec.endpoint,
    region: spec.region,
    credentials: credentialsFromSecret(secret, secretName),
  };
}
