// Turns HTTP statuses and network/TLS failures into SourceErrors a user can act on. Never copies
// request config (auth, headers) into messages or causes: axios errors carry both, so only the
// error code and node's own message (which holds neither) are kept.
import { SourceError } from '../source-error.ts';
import { transportProblemOf } from '../transport-errors.ts';
import type { OvaHttpSettings } from './connection.ts';

/** A sanitized stand-in for a library error, safe to keep as `cause`. */
function safeCause(code: string | undefined, message: string): Error {
  const e = new Error(message);
  if (code) (e as Error & { code?: string }).code = code;
  return e;
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
  const problem = transportProblemOf(err);
  switch (problem.kind) {
    case 'http':
      return statusError(settings, method, problem.status, problem.statusText);
    case 'tls-verify': {
      const hint =
        settings.trust === 'custom-ca'
          ? 'the server certificate is not signed by the CA in the Secret key "ca.crt" (or does not name this host)'
          : 'the server certificate is not trusted by the system CAs; put its CA into the Secret key "ca.crt" (or, only if you accept the risk, set "insecureSkipVerify" to "true")';
      return new SourceError(
        'TlsVerificationFailed',
        `${method} ${settings.displayUrl}: TLS verification failed (${problem.message}): ${hint}`,
        { cause: safeCause(problem.code, problem.message) },
      );
    }
    case 'tls-handshake':
      return new SourceError(
        'TlsHandshakeFailed',
        `${method} ${settings.displayUrl}: TLS handshake failed (${problem.message}); is the server speaking https on this port?`,
        { cause: safeCause(problem.code, problem.message), retryable: true },
      );
    case 'unreachable':
      return new SourceError(
        'EndpointUnreachable',
        `${method} ${settings.displayUrl}: cannot reach the server (${problem.code}: ${problem.message})`,
        { cause: safeCause(problem.code, problem.message), retryable: true },
      );
    case 'aborted':
    case 'other': {
      const { code, message } =
        problem.kind === 'other' ? problem : { code: 'ABORT_ERR', message: 'aborted' };
      return new SourceError(
        'HttpError',
        `${method} ${settings.displayUrl} failed: ${code ? `${code}: ` : ''}${message}`,
        { cause: safeCause(code, message), retryable: true },
      );
    }
  }
}
