// Events the broker gave up on (after its retries) land here: log them and, when the event was
// about one of our objects, record a Warning Event on it so `kubectl describe` shows the failure.
// Resync will bring the object back; nothing is lost silently.
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import type { FunctionHandler } from '../shared/function-handler.ts';
import { Kube, type Obj } from '../shared/kube/client.ts';
import { recordEvent } from '../shared/kube/events.ts';
import { createLogger } from '../shared/log.ts';

const log = createLogger({ function: 'dead-letter' });

export function createHandler(kube?: Kube): FunctionHandler {
  return async function handle(_context: Context, event?: CloudEvent<unknown>) {
    if (!event) return;
    const ext = event as unknown as Record<string, unknown>;
    const failure = {
      type: event.type,
      id: event.id,
      subject: event.subject,
      destination: ext.knativeerrordest,
      code: ext.knativeerrorcode,
    };
    log.error('event delivery failed after all retries', failure);
    const object = event.data as Obj | undefined;
    if (object?.metadata?.name && object.metadata.namespace && object.kind) {
      kube ??= new Kube();
      await recordEvent(kube, object, {
        type: 'Warning',
        reason: 'EventDeliveryFailed',
        message: `a ${event.type} event could not be delivered to ${String(failure.destination ?? 'a function')} (HTTP ${String(failure.code ?? '?')}); the periodic resync will retry`,
      }).catch((e) => log.warn('could not record the Kubernetes Event', { error: e }));
    }
  };
}

export const handle = createHandler();
