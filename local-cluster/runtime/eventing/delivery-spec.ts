// Knative delivery spec (eventing.knative.dev/v1 DeliverySpec): retry count, backoff from an
// ISO-8601 duration, and which responses are retried (knative.dev/eventing kncloudevents:
// network errors, 404, 408, 409, 429 and 5xx are retried; other non-2xx go straight to the
// dead letter sink).

export interface DeliverySpec {
  retry?: number;
  backoffPolicy?: 'linear' | 'exponential';
  backoffDelay?: string;
  timeout?: string;
  deadLetterSink?: {
    ref?: { apiVersion?: string; kind?: string; name: string; namespace?: string };
    uri?: string;
  };
}

/** Parses an ISO-8601 duration (PnYnMnDTnHnMnS, also PnW) into milliseconds. */
export function parseIsoDuration(text: string): number {
  const m =
    /^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(
      text,
    );
  if (!m || text === 'P' || text.endsWith('T')) throw new Error(`invalid ISO-8601 duration "${text}"`);
  const n = (i: number) => Number(m[i] ?? 0);
  const seconds =
    n(1) * 365 * 86400 + n(2) * 30 * 86400 + n(3) * 7 * 86400 + n(4) * 86400 + n(5) * 3600 + n(6) * 60 + n(7);
  return Math.round(seconds * 1000);
}

/**
 * Delay before retry number `retryNumber` (1-based), as Knative computes it:
 * linear = delay * n, exponential = delay * 2^n. Without a backoff delay Knative retries at once.
 */
export function backoffMs(spec: DeliverySpec, retryNumber: number): number {
  if (!spec.backoffDelay) return 0;
  const delay = parseIsoDuration(spec.backoffDelay);
  return (spec.backoffPolicy ?? 'exponential') === 'linear' ? delay * retryNumber : delay * 2 ** retryNumber;
}

/** The whole schedule: the delays before each of the `retry` retries. */
export function backoffSchedule(spec: DeliverySpec): number[] {
  return Array.from({ length: Math.max(0, spec.retry ?? 0) }, (_, i) => backoffMs(spec, i + 1));
}

export function isRetryableStatus(status: number | undefined): boolean {
  if (status === undefined) return true; // no response: network error or timeout
  return status === 404 || status === 408 || status === 409 || status === 429 || status >= 500;
}

export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}
