// How to reach an OVA: URL, basic auth, TLS trust and timeout, from the OvaSource spec and its
// Secret. Pure apart from building the https.Agent; validates everything a user can get wrong
// before any request is made.
import { X509Certificate } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { OVA_DEFAULT_HTTP_TIMEOUT_SECONDS } from '../../api/ova-source.ts';
import { SourceError } from '../source-error.ts';

/** Secret keys the OVA source reads. */
export const OVA_SECRET_KEYS = {
  username: 'username',
  password: 'password',
  caCert: 'ca.crt',
  /** "true" turns TLS verification off; the only way to do so. */
  insecureSkipVerify: 'insecureSkipVerify',
} as const;

/** Decoded Secret data (string values, as after base64-decoding `data`). */
export type SecretData = Readonly<Record<string, string | undefined>>;

/** The parts of OvaSourceSpec this client reads (structurally compatible with the API type). */
export interface OvaSourceSpecLike {
  url?: string | null;
  httpTimeoutSeconds?: number | null;
}

export interface OvaHttpSettings {
  /** URL to request, without embedded credentials. */
  url: string;
  /** URL for messages: no credentials, no query string (presigned URLs carry signatures there). */
  displayUrl: string;
  auth?: { username: string; password: string };
  /** Set for https URLs. */
  httpsAgent?: HttpsAgent;
  /** 0 = no timeout. Applies to each whole request, body included. */
  timeoutMs: number;
  timeoutSeconds: number;
  /** Says where TLS trust comes from, for error messages. */
  trust: 'custom-ca' | 'system-cas' | 'insecure' | 'plain-http';
}

export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  const hadQuery = copy.search !== '';
  copy.search = '';
  copy.hash = '';
  return hadQuery ? `${copy.href}?…` : copy.href;
}

export function resolveOvaHttpSettings(spec: OvaSourceSpecLike, secret: SecretData = {}): OvaHttpSettings {
  const raw = spec.url?.trim() ?? '';
  if (raw === '')
    throw new SourceError('InvalidUrl', 'spec.url is empty: set it to the http(s) URL of the .ova file');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SourceError(
      'InvalidUrl',
      'spec.url is not an absolute URL: set it to the http(s) URL of the .ova file',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SourceError(
      'UnsupportedUrlScheme',
      `unsupported URL scheme "${url.protocol.replace(/:$/, '')}": spec.url must use "http" or "https"`,
    );
  }
  const displayUrl = redactUrl(url);

  const username = secret[OVA_SECRET_KEYS.username];
  const password = secret[OVA_SECRET_KEYS.password];
  let auth: OvaHttpSettings['auth'];
  if (username !== undefined || password !== undefined) {
    if (!username || password === undefined) {
      throw new SourceError(
        'InvalidCredentials',
        `the credentials Secret has "${username ? 'username' : 'password'}" but not "${username ? 'password' : 'username'}": basic auth needs both`,
      );
    }
    auth = { username, password };
  } else if (url.username !== '') {
    auth = { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
  }
  const requestUrl = new URL(url.href);
  requestUrl.username = '';
  requestUrl.password = '';

  const timeoutSeconds = spec.httpTimeoutSeconds ?? OVA_DEFAULT_HTTP_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0) {
    throw new SourceError(
      'InvalidSpec',
      `spec.httpTimeoutSeconds must be a whole number ≥ 0, got ${timeoutSeconds}`,
    );
  }

  const insecureText = secret[OVA_SECRET_KEYS.insecureSkipVerify]?.trim().toLowerCase();
  if (insecureText !== undefined && insecureText !== 'true' && insecureText !== 'false') {
    throw new SourceError(
      'InvalidCredentials',
      `the credentials Secret key "${OVA_SECRET_KEYS.insecureSkipVerify}" must be "true" or "false"`,
    );
  }
  const insecure = insecureText === 'true';
  const caPem = secret[OVA_SECRET_KEYS.caCert];
  let trust: OvaHttpSettings['trust'] = 'plain-http';
  let httpsAgent: HttpsAgent | undefined;
  if (url.protocol === 'https:') {
    if (caPem !== undefined && caPem.trim() !== '') validateCaBundle(caPem);
    trust = insecure ? 'insecure' : caPem?.trim() ? 'custom-ca' : 'system-cas';
    httpsAgent = new HttpsAgent({
      // A custom CA extends the system trust store rather than replacing it (upstream replaced it).
      ...(trust === 'custom-ca' ? { ca: [...rootCertificates, caPem as string] } : {}),
      rejectUnauthorized: !insecure,
    });
  }
  return {
    url: requestUrl.href,
    displayUrl,
    ...(auth ? { auth } : {}),
    ...(httpsAgent ? { httpsAgent } : {}),
    timeoutMs: timeoutSeconds * 1000,
    timeoutSeconds,
    trust,
  };
}

function validateCaBundle(pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new SourceError('InvalidCaCert', `the credentials Secret key "ca.crt" holds no PEM certificate`);
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new SourceError(
        'InvalidCaCert',
        `certificate ${i + 1} in the Secret key "ca.crt" is not valid PEM`,
      );
    }
  });
}
