// The event probe: a function that writes every CloudEvent it receives (attributes, the ce-*
// headers and the content type of the HTTP request) as one JSON line to stdout, tagged
// EVENT_PROBE_RECORD, and answers with $PROBE_STATUS (default 202), so the eventing path, its
// retries and its dead letter sink can be checked with `kubectl logs`.
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';

export const PROBE_RECORD_TAG = 'EVENT_PROBE_RECORD';

export function handle(context: Context, event?: CloudEvent<unknown>) {
  const status = Number(process.env.PROBE_STATUS ?? 202);
  const ceHeaders = Object.fromEntries(Object.entries(context.headers).filter(([k]) => k.startsWith('ce-')));
  console.log(
    `${PROBE_RECORD_TAG} ${JSON.stringify({
      receivedAt: new Date().toISOString(),
      contentType: context.headers['content-type'],
      ceHeaders,
      attributes: event ? { ...event.toJSON(), data: undefined } : undefined,
      data: event?.data,
    })}`,
  );
  if (status >= 300) return { statusCode: status, body: `probe answers ${status} for ${event?.id}` };
  return { statusCode: status, body: '' };
}
