// Where a VmwareSource points and how to trust it: endpoint from the spec, credentials and TLS
// settings from the Secret. TLS is verified against the system CAs plus the Secret's `caCert`;
// it is only off when the Secret says `insecureSkipVerify: "true"` (an explicit opt-out).
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { SourceError } from '../source-error.ts';

/** Secret keys of a VmwareSource's credentials Secret. */
export const VMWARE_SECRET_KEYS = {
  username: 'username',
  password: 'password',
  caCert: 'caCert',
  insecureSkipVerify: 'insecureSkipVerify',
} as const;

/** Decoded (not base64) Secret data. */
export type SecretData = Readonly<Record<string, string | undefined>>;

export interface VmwareConnection {
  /** SOAP endpoint, e.g. https://vcenter.example.com/sdk (used verbatim). */
  endpoint: string;
  username: string;
  password: string;
  caCertPem?: string;
  insecureSkipVerify: boolean;
}

export function resolveVmwareConnection(
  spec: { endpoint?: string | null },
  secret: SecretData,
  secretName = 'the credentials Secret',
): VmwareConnection {
  const endpoint = spec.endpoint?.trim() ?? '';
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new SourceError(
      'InvalidEndpoint',
      // Not echoed: a malformed URL may still hold a password.
      'spec.endpoint is not a URL; expected e.g. https://vcenter.example.com/sdk',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new SourceError('InvalidEndpoint', `spec.endpoint must be an https:// URL, got "${url.protocol}"`);
  if (url.username || url.password)
    throw new SourceError(
      'InvalidEndpoint',
      'spec.endpoint must not contain credentials; put them in the Secret',
    );
  const username = secret[VMWARE_SECRET_KEYS.username];
  const password = secret[VMWARE_SECRET_KEYS.password];
  if (!username) throw new SourceError('SecretKeyMissing', `no key "username" found in secret ${secretName}`);
  if (!password) throw new SourceError('SecretKeyMissing', `no key "password" found in secret ${secretName}`);
  const caCertPem = secret[VMWARE_SECRET_KEYS.caCert]?.trim() || undefined;
  if (caCertPem && !caCertPem.includes('-----BEGIN CERTIFICATE-----'))
    throw new SourceError('InvalidCaCert', `key "caCert" of secret ${secretName} is not a PEM certificate`);
  const skip = secret[VMWARE_SECRET_KEYS.insecureSkipVerify]?.trim().toLowerCase();
  if (skip !== undefined && skip !== 'true' && skip !== 'false')
    throw new SourceError(
      'InvalidSecret',
      `key "insecureSkipVerify" of secret ${secretName} must be "true" or "false"`,
    );
  return { endpoint: url.toString(), username, password, caCertPem, insecureSkipVerify: skip === 'true' };
}

/** The HTTPS agent for SOAP calls and NFC downloads of one connection (keep-alive, verified). */
export function httpsAgentFor(conn: VmwareConnection): Agent {
  return new Agent({
    keepAlive: true,
    rejectUnauthorized: !conn.insecureSkipVerify,
    ...(conn.caCertPem ? { ca: [...rootCertificates, conn.caCertPem] } : {}),
  });
}
