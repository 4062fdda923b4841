// What the built-in registries set on create: initial status and a few spec defaults.
import { randomInt } from 'node:crypto';
import type { KubeObject } from './types.ts';

export function prepareBuiltinCreate(obj: KubeObject): void {
  const spec = (obj['spec'] ?? {}) as Record<string, unknown>;
  switch (`${obj.apiVersion}/${obj.kind}`) {
    case 'v1/Namespace':
      obj['spec'] = { finalizers: ['kubernetes'], ...spec };
      obj['status'] = { phase: 'Active' };
      break;
    case 'v1/Pod':
      obj['status'] = { phase: 'Pending', ...(obj['status'] as object | undefined) };
      break;
    case 'v1/PersistentVolumeClaim':
      obj['status'] = { phase: 'Pending', ...(obj['status'] as object | undefined) };
      break;
    case 'v1/Service':
      spec['type'] ??= 'ClusterIP';
      spec['sessionAffinity'] ??= 'None';
      if (spec['type'] !== 'ExternalName' && spec['clusterIP'] === undefined) {
        spec['clusterIP'] = `10.96.${randomInt(1, 255)}.${randomInt(1, 255)}`;
        spec['clusterIPs'] = [spec['clusterIP']];
      }
      obj['spec'] = spec;
      obj['status'] ??= { loadBalancer: {} };
      break;
    case 'v1/Secret':
      obj['type'] ??= 'Opaque';
      break;
    default:
      break;
  }
}

/** batch/v1 Jobs orphan their pods unless told otherwise, for backwards compatibility. */
export function defaultPropagationPolicy(obj: KubeObject): 'Background' | 'Orphan' {
  return obj.apiVersion === 'batch/v1' && obj.kind === 'Job' ? 'Orphan' : 'Background';
}
