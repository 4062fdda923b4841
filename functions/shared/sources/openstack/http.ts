// The HTTP client for one OpenStack cloud: axios with verified TLS (custom CA added to the system
// roots), keep-alive, bounded retries with exponential backoff, and translation of failures into
// SourceErrors a user can act on.
import type { AxiosError } from 'axios';
import axios, { type AxiosInstance } from 'axios';
import axiosRetry, { exponentialDelay, isNetworkError } from 'axios-retry';
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { MAX_OPENSTACK_JSON_BYTES } from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import { isTlsProblem, transportProblemOf } from '../transport-errors.ts';
import type { OpenstackCredentials } from './connection.ts';

export interface HttpOptions {
  /** Retries of one request after a network error or a 5xx (default 4). */
  retries?: number;
  /** Base of the exponential retry delay in ms (default 200). */
  retryBaseMs?: number;
  /** Per-request timeout in ms for API calls (downloads are not limited; default 60 s). */
  timeoutMs?: number;
}

/** TLS problems are not retried: the answer will not change until the user fixes the trust. */
export const isTlsError = (err: unknown): boolean => isTlsProblem(transportProblemOf(err));

/**
 * POSTs create things: retrying one after an ambiguous failure could create it twice. They are
 * retried only when the request certainly was not processed (connection refused, 503).
 */
export function isSafeToRetryPost(err: AxiosError): boolean {
  return err.code === 'ECONNREFUSED' || err.response?.status === 503;
}

export function shouldRetry(err: AxiosError): boolean {
  if (isTlsError(err) || axios.isCancel(err)) return false;
  const method = (err.config?.method ?? 'get').toUpperCase();
  if (method === 'POST') return isSafeToRetryPost(err);
  if (err.response) return err.response.status >= 500 && err.response.status !== 501;
  return isNetworkError(err) || transportProblemOf(err).kind === 'unreachable';
}

export function createHttpClient(
  credentials: OpenstackCredentials,
  options: HttpOptions = {},
): AxiosInstance {
  const httpsAgent = new Agent({
    keepAlive: true,
    rejectUnauthorized: !credentials.insecureSkipVerify,
    ...(credentials.caCertPem ? { ca: [...rootCertificates, credentials.caCertPem] } : {}),
  });
  const http = axios.create({
    httpsAgent,
    timeout: options.timeoutMs ?? 60_000,
    headers: { Accept: 'application/json', 'User-Agent': 'vm-import-openstack/1' },
    // Statuses are interpreted by the callers (404 while waiting for a deletion, 401 → re-auth).
    validateStatus: () => true,
    maxRedirects: 0,
    // Every API answer is read into memory: bounded. Downloads (streams) set their own limit.
    maxContentLength: MAX_OPENSTACK_JSON_BYTES,
  });
  const base = options.retryBaseMs ?? 200;
  axiosRetry(http, {
    retries: options.retries ?? 4,
    retryCondition: shouldRetry,
    retryDelay: (n, err) => exponentialDelay(n, err, base),
    // With validateStatus accepting everything, 5xx answers must be turned into retries here.
    validateResponse: (res) => res.status < 500 || res.status === 501,
  });
  return http;
}

/** The human message inside an OpenStack error body (Nova/Cinder, Keystone, Neutron, Glance). */
export function apiErrorMessage(data: unknown): string | undefined {
  if (typeof data === 'string') {
    const text = data
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    return text || undefined;
  }
  if (!data || typeof data !== 'object') return undefined;
  const obj = data as Record<string, unknown>;
  if (typeof obj.message === 'string') return obj.message.replace(/<br \/>/g, ' ').trim();
  for (const value of Object.values(obj)) {
    if (value && typeof value === 'object' && typeof (value as Record<string, unknown>).message === 'string')
      return ((value as Record<string, unknown>).message as string).trim();
  }
  return undefined;
}

/** A URL for messages: no user info, no query string. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.href;
  } catch {
    return 'the endpoint';
  }
}

/** Translates a transport failure (no HTTP answer) into a SourceError. */
export function transportError(err: unknown, what: string, url: string): SourceError {
  if (err instanceof SourceError) return err;
  const host = safeHost(url);
  if (/maxContentLength size of \d+ exceeded/.test((err as Error | undefined)?.message ?? ''))
    return new SourceError(
      'ResponseTooLarge',
      `The answer of ${host} for ${what} is larger than the ${MAX_OPENSTACK_JSON_BYTES} bytes accepted; it was not read.`,
      { cause: err },
    );
  const problem = transportProblemOf(err);
  if (isTlsProblem(problem))
    return new SourceError(
      'TlsVerificationFailed',
      `TLS verification of ${host} failed (${problem.code}): put the CA that signed its certificate in the Secret key "ca_cert".`,
      { cause: err },
    );
  if (axios.isCancel(err) || problem.kind === 'aborted')
    return new SourceError('Aborted', `${what} was cancelled.`, { cause: err });
  const code = (err as { code?: string }).code ?? 'error';
  return new SourceError('EndpointUnreachable', `Cannot reach ${host} for ${what} (${code}).`, {
    retryable: true,
    cause: err,
  });
}

function safeHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the endpoint';
  }
}

/** A SourceError for an unexpected HTTP answer. 5xx are retryable, 4xx are not. */
export function httpError(status: number, data: unknown, what: string): SourceError {
  const detail = apiErrorMessage(data);
  return new SourceError(
    status >= 500 ? 'OpenstackServiceError' : 'OpenstackRequestFailed',
    `${what} failed with HTTP ${status}${detail ? `: ${detail}` : ''}.`,
    { retryable: status >= 500 || status === 429 },
  );
}
