// Kubernetes Events on our objects, so `kubectl describe` tells the story of an import.
import type { ConditionReason } from '../condition-reasons.ts';
import type { Kube, Obj } from './client.ts';

export interface EventInput {
  type: 'Normal' | 'Warning';
  reason: ConditionReason;
  message: string;
}

export const EVENT_COMPONENT = 'vm-import';

/** Records a core/v1 Event about `object`. Failing to record is logged by the caller, never fatal. */
export async function recordEvent(
  kube: Kube,
  object: Obj,
  event: EventInput,
  now: Date = new Date(),
): Promise<void> {
  const meta = object.metadata!;
  // Through the generic object API: the typed CoreV1Api would put its ~0.8 MB of generated code
  // into every function's start for this one call.
  await kube.objects.create({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${meta.name}.`, namespace: meta.namespace ?? 'default' },
    involvedObject: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: meta.name,
      namespace: meta.namespace,
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
    },
    type: event.type,
    reason: event.reason,
    message: event.message.slice(0, 1024),
    source: { component: EVENT_COMPONENT },
    reportingComponent: EVENT_COMPONENT,
    reportingInstance: process.env.FUNCTION_NAME ?? EVENT_COMPONENT,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  });
}
