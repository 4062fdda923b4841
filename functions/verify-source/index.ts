// Verifies a source object (any of SOURCE_KINDS) through its adapter and writes clusterReady / clusterNotReady
// with a condition that carries the reason. Re-verifies on spec change and, via resync, periodically.
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import type { FunctionHandler } from '../shared/function-handler.ts';
import { API_VERSION, KINDS, sourceKindOf, type SourceStatus } from '../shared/api/index.ts';
import { Kube, isConflict, isNotFound, type Obj } from '../shared/kube/client.ts';
import { recordEvent } from '../shared/kube/events.ts';
import { createLogger } from '../shared/log.ts';
import { adapterFor } from '../shared/sources/adapters.ts';
import { SourceError } from '../shared/sources/source-error.ts';
import { sourceObjectOf } from '../shared/sources/source-target.ts';
import { needsVerification, statusAfter, type VerificationResult } from './decide.ts';

const log = createLogger({ function: 'verify-source' });

export function createHandler(deps: { kube?: Kube; now?: () => Date } = {}): FunctionHandler {
  let kube = deps.kube;
  return async function handle(_context: Context, event?: CloudEvent<unknown>) {
    const data = event?.data as Obj | undefined;
    const kind = sourceKindOf(data?.kind);
    if (!data?.metadata?.name || !kind || data.apiVersion !== API_VERSION) return;
    kube ??= new Kube();
    let source: Obj;
    try {
      source = await kube.get(API_VERSION, kind, data.metadata.namespace, data.metadata.name);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    if (source.metadata?.deletionTimestamp) return;
    const now = deps.now?.() ?? new Date();
    const status = source.status as SourceStatus | undefined;
    const generation = source.metadata?.generation;
    if (!needsVerification(status, generation, now)) return;

    const sourceLog = log.child({ kind, namespace: source.metadata?.namespace, name: source.metadata?.name });
    let result: VerificationResult;
    try {
      await (await adapterFor(kind)).verify(await sourceObjectOf(kube, kind, source));
      result = { ok: true };
    } catch (e) {
      result =
        e instanceof SourceError
          ? { ok: false, reason: e.reason, message: e.message }
          : { ok: false, reason: 'VerificationError', message: e instanceof Error ? e.message : String(e) };
    }
    const next = statusAfter(status, result, generation, now);
    try {
      await kube.replaceStatus({ ...source, status: next }, KINDS[kind].plural);
    } catch (e) {
      if (isConflict(e)) return;
      throw e;
    }
    const changed = next.status !== status?.status;
    if (result.ok) sourceLog.info('verified', { status: next.status });
    else
      sourceLog.warn('verification failed', {
        status: next.status,
        reason: result.reason,
        message: result.message,
      });
    if (changed || !result.ok)
      await recordEvent(kube, source, {
        type: result.ok ? 'Normal' : 'Warning',
        reason: result.ok ? 'SourceReady' : result.reason,
        message: result.ok ? `${kind} verified: ${next.status}` : result.message,
      }).catch((e) => sourceLog.warn('could not record the Kubernetes Event', { error: e }));
  };
}

export const handle = createHandler();
