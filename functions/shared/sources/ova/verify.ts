// Verification of an OvaSource: the spec and Secret make sense and the file can be fetched.
import { resolveOvaHttpSettings, type OvaSourceSpecLike, type SecretData } from './connection.ts';
import { probeOva } from './ova-http.ts';

export interface OvaVerification {
  /** The URL without credentials or query string, for status messages. */
  displayUrl: string;
  /** HEAD, or GET when the server refused HEAD and a one-byte ranged GET was used instead. */
  method: 'HEAD' | 'GET';
  sizeBytes?: number;
  acceptsRanges: boolean;
}

/**
 * Resolves when the OVA at `spec.url` is reachable with the Secret's credentials and trust
 * settings; rejects with a SourceError (reason: UnsupportedUrlScheme,
 * InvalidUrl, InvalidCredentials, InvalidCaCert, Unauthorized, NotFound, EndpointUnreachable,
 * TlsVerificationFailed, TlsHandshakeFailed, Timeout, HttpError) otherwise.
 */
export async function verifyOvaSource(
  spec: OvaSourceSpecLike,
  secretData?: SecretData,
  signal?: AbortSignal,
): Promise<OvaVerification> {
  const settings = resolveOvaHttpSettings(spec, secretData);
  const probe = await probeOva(settings, signal);
  return {
    displayUrl: settings.displayUrl,
    method: probe.method,
    acceptsRanges: probe.acceptsRanges,
    ...(probe.sizeBytes !== undefined ? { sizeBytes: probe.sizeBytes } : {}),
  };
}
