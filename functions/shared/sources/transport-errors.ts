// The one classifier of what HTTP clients (axios, node-soap over axios, node's https) throw when
// no usable answer came back: TLS verification, TLS handshake, unreachable, an HTTP status,
// aborted, or something else. Keeps only codes, statuses and node's own messages — never the
// request, which holds credentials and session cookies. Each adapter words the SourceError.

export type TransportProblem =
  /** The peer's certificate is not trusted or does not name the host. */
  | { kind: 'tls-verify'; code: string; message: string }
  /** No TLS session came about (e.g. plain http on an https port). */
  | { kind: 'tls-handshake'; code: string; message: string }
  | { kind: 'unreachable'; code: string; message: string }
  | { kind: 'http'; status: number; statusText: string }
  | { kind: 'aborted' }
  | { kind: 'other'; code?: string; message: string };

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
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

const isTlsHandshakeCode = (code: string) => code === 'EPROTO' || code.startsWith('ERR_SSL');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Classifies an error by the codes along its `cause` chain (outermost known code wins). */
export function transportProblemOf(err: unknown): TransportProblem {
  const chain: Record<string, unknown>[] = [];
  for (let e: unknown = err; isObject(e) && !chain.includes(e); e = e.cause) chain.push(e);
  const innermost = chain.at(-1);
  const message = (
    innermost instanceof Error ? innermost.message : err instanceof Error ? err.message : String(err)
  ).slice(0, 300);
  for (const e of chain) {
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (
      e.name === 'AbortError' ||
      e.name === 'CanceledError' ||
      code === 'ERR_CANCELED' ||
      code === 'ABORT_ERR'
    )
      return { kind: 'aborted' };
    if (code && TLS_VERIFY_CODES.has(code)) return { kind: 'tls-verify', code, message };
    if (code && isTlsHandshakeCode(code)) return { kind: 'tls-handshake', code, message };
    if (code && UNREACHABLE_CODES.has(code)) return { kind: 'unreachable', code, message };
    const response = e.response;
    if (isObject(response) && typeof response.status === 'number')
      return {
        kind: 'http',
        status: response.status,
        statusText: typeof response.statusText === 'string' ? response.statusText : '',
      };
  }
  const code = chain.map((e) => e.code).findLast((c): c is string => typeof c === 'string');
  return { kind: 'other', ...(code ? { code } : {}), message };
}

export const isTlsProblem = (p: TransportProblem) => p.kind === 'tls-verify' || p.kind === 'tls-handshake';
