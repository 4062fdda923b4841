// On every PingSource tick: touch every non-terminal import and every source with an annotation,
// so each gets a fresh update event and moves on after lost events, restarts or timeouts.
import { RESYNC_ANNOTATION } from '../shared/labels.ts';
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import type { FunctionHandler } from '../shared/function-handler.ts';
import { PING_EVENT_TYPE } from '../../events/ping.ts';
import {
  API_VERSION,
  KINDS,
  isTerminalImport,
  type VirtualMachineImportStatus,
} from '../shared/api/index.ts';
import { Kube, isNotFound, type Obj } from '../shared/kube/client.ts';
import { createLogger } from '../shared/log.ts';

const log = createLogger({ function: 'resync' });

/** Objects that still have work to do: non-terminal imports, all sources, and anything being deleted. */
export function needsResync(object: Obj): boolean {
  if (object.metadata?.deletionTimestamp) return true;
  if (object.kind !== 'VirtualMachineImport') return true;
  return !isTerminalImport(object.status as VirtualMachineImportStatus | undefined);
}

export function createHandler(kube?: Kube): FunctionHandler {
  return async function handle(_context: Context, event?: CloudEvent<unknown>) {
    if (event?.type !== PING_EVENT_TYPE) return;
    kube ??= new Kube();
    const stamp = event.time ?? new Date().toISOString();
    let touched = 0;
    for (const info of Object.values(KINDS)) {
      for (const object of await kube.list<Obj>(API_VERSION, info.kind)) {
        if (!needsResync(object)) continue;
        try {
          await kube.mergePatch({
            apiVersion: API_VERSION,
            kind: info.kind,
            metadata: {
              name: object.metadata!.name,
              namespace: object.metadata!.namespace,
              annotations: { [RESYNC_ANNOTATION]: stamp },
            },
          });
          touched++;
        } catch (e) {
          if (!isNotFound(e))
            log.warn('could not touch object', { kind: info.kind, name: object.metadata?.name, error: e });
        }
      }
    }
    log.info('resync', { touched, tick: stamp });
  };
}

export const handle = createHandler();
