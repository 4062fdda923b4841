// Turns HTTP statuses and network/TLS failures into SourceErrors a user can act on. Never copies
// request config (auth, headers) into messages or causes: axios errors carry both, so only the
// error code and node's own message (which holds neither) are kept.
import { isAxiosError } from 'axios';
import { SourceError } from '../types.ts';
import type { OvaHttpSettings } from './http-settings.ts';

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** A sanitized stand-in for a library error, safe to keep as `cause`. */
function safeCause(code: string | undefined, message: string): Error {
  const e = new Error(message);
  if (code) (e as Error & { code?: string }).code = code;
  return e;
}

function rootCause(err: unknown): { code?: string; message: string } {
  let e: unknown = err;
  // axios wraps node errors; the innermost one has the precise code and message.
  for (let i = 0; i < 5 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  const code = (e as { code?: unknown }).code;
  const outerCode = (err as { code?: unknown }).code;
  return {
    ...(typeof code === 'string' ? { code } : typeof outerCode === 'string' ? { code: outerCode } : {}),
    message: e instanceof Error ? e.message : String(e),
  };
}

/** SourceError for a response status that is not success. */
export function statusError(
  settings: OvaHttpSettings,
  method: string,
  status: number,
  statusText = '',
): SourceError {
  const what = `${method} ${settings.displayUrl} returned HTTP ${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 401) {
    return new SourceError(
      'Unauthorized',
      settings.auth
        ? `${what}: the server rejected the username and password of the credentials Secret`
        : `${what}: the server needs credentials; put "username" and "password" into the credentials Secret`,
    );
  }
  if (status === 403) return new SourceError('Unauthorized', `${what}: access to the file is forbidden`);
  if (status === 404 || status === 410)
    return new SourceError('NotFound', `${what}: no file at this URL; check spec.url`);
  const retryable = status >= 500 || status === 408 || status === 429;
  return new SourceError('HttpError', `${what}`, { retryable });
}

/**
 * SourceError for a failed request. `timedOut` says that our own timeout fired (as opposed to a
 * user abort), which axios cannot tell apart.
 */
export function requestError(
  settings: OvaHttpSettings,
  method: string,
  err: unknown,
  state: { timedOut: boolean; aborted: boolean },
): SourceError {
  if (err instanceof SourceError) return err;
  if (state.timedOut) {
    return new SourceError(
      'Timeout',
      `${method} ${settings.displayUrl} did not finish within spec.httpTimeoutSeconds (${settings.timeoutSeconds} s); raise it, or set 0 for no limit`,
      { retryable: true },
    );
  }
  if (state.aborted)
    return new SourceError('Aborted', `${method} ${settings.displayUrl} was cancelled`, { retryable: true });
  if (isAxiosError(err) && err.response) {
    return statusError(settings, method, err.response.status, err.response.statusText);
  }
  const { code, message } = rootCause(err);
  const cause = safeCause(code, message);
  if (code !== undefined && TLS_VERIFY_CODES.has(code)) {
    const hint =
      settings.trust === 'custom-ca'
        ? 'the server certificate is not signed by the CA in the Secret key "ca.crt" (or does not name this host)'
        : 'the server certificate is not trusted by the system CAs; put its CA into the Secret key "ca.crt" (or, only if you accept the risk, set "insecureSkipVerify" to "true")';
    return new SourceError(
      'TlsVerificationFailed',
      `${method} ${settings.displayUrl}: TLS verification failed (${message}): ${hint}`,
      {
        cause,
      },
    );
  }
  if (code !== undefined && (code.startsWith('ERR_SSL') || code === 'EPROTO')) {
    return new SourceError(
      'TlsHandshakeFailed',
      `${method} ${settings.displayUrl}: TLS handshake failed (${message}); is the server speaking https on this port?`,
      { cause, retryable: true },
    );
  }
  if (
    code !== undefined &&
    (UNREACHABLE_CODES.has(code) || code === 'ETIMEDOUT' || code === 'ECONNABORTED')
  ) {
    return new SourceError(
      'EndpointUnreachable',
      `${method} ${settings.displayUrl}: cannot reach the server (${code}: ${message})`,
      {
        cause,
        retryable: true,
      },
    );
  }
  return new SourceError(
    'HttpError',
    `${method} ${settings.displayUrl} failed: ${code ? `${code}: ` : ''}${message}`,
    {
      cause,
      retryable: true,
    },
  );
}
