// Turning what node-soap/axios throw into something we can classify, without ever carrying the
// request (it holds the password on Login and the session cookie on every call) into our errors.
import { child, isNode, xsiType } from './soap-values.ts';

/** A vSphere fault from a SOAP Fault response: `name` is the fault type (e.g. InvalidLogin). */
export interface VimFault {
  name: string;
  message: string;
}

export function vimFaultOf(err: unknown): VimFault | undefined {
  const fault = child(child(child(child(err, 'root'), 'Envelope'), 'Body'), 'Fault');
  if (!isNode(fault)) return undefined;
  const message = typeof fault.faultstring === 'string' ? fault.faultstring : '';
  const detail = fault.detail;
  let name = 'Fault';
  if (isNode(detail)) {
    for (const [key, value] of Object.entries(detail)) {
      if (key === 'attributes') continue;
      name = xsiType(value) ?? key.replace(/Fault$/, '');
      break;
    }
  }
  return { name, message };
}

export type TransportProblem =
  | { kind: 'tls'; code: string }
  | { kind: 'unreachable'; code: string }
  | { kind: 'http'; status: number }
  | { kind: 'aborted' }
  | { kind: 'other'; message: string };

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
  'EPROTO',
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

/** Classifies a transport error (axios/node) by its code; only codes and statuses are kept. */
export function transportProblemOf(err: unknown): TransportProblem {
  const seen = new Set<unknown>();
  for (let e: unknown = err; isNode(e) && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = typeof e.code === 'string' ? e.code : undefined;
    if (
      e.name === 'AbortError' ||
      e.name === 'CanceledError' ||
      code === 'ERR_CANCELED' ||
      code === 'ABORT_ERR'
    )
      return { kind: 'aborted' };
    if (code && TLS_CODES.has(code)) return { kind: 'tls', code };
    if (code && UNREACHABLE_CODES.has(code)) return { kind: 'unreachable', code };
    const status = child(child(e, 'response'), 'status');
    if (typeof status === 'number') return { kind: 'http', status };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'other', message: message.slice(0, 300) };
}
