// Defaults and validation the real registries apply to Pods, Jobs and Deployments: Job and
// Deployment spec defaults, the Job selector and pod template labels, and the required-field
// checks that reject an unusable pod template with 422. Pod spec defaults (restartPolicy,
// terminationGracePeriodSeconds, imagePullPolicy, ...) are deliberately not applied: the local pod
// runner chooses its own when they are absent.
import type { StatusCause } from './errors.ts';
import type { KubeObject } from './types.ts';

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/** Defaults that do not depend on the uid (before admission). */
export function defaultWorkload(obj: KubeObject): void {
  const spec = asObj(obj['spec']);
  switch (`${obj.apiVersion}/${obj.kind}`) {
    case 'v1/Pod':
      spec['serviceAccountName'] ??= spec['serviceAccount'] ?? 'default';
      break;
    case 'batch/v1/Job': {
      spec['parallelism'] ??= 1;
      spec['completions'] ??= 1;
      spec['backoffLimit'] ??= 6;
      spec['completionMode'] ??= 'NonIndexed';
      spec['suspend'] ??= false;
      spec['podReplacementPolicy'] ??= 'TerminatingOrFailed';
      break;
    }
    case 'apps/v1/Deployment': {
      spec['replicas'] ??= 1;
      spec['revisionHistoryLimit'] ??= 10;
      spec['progressDeadlineSeconds'] ??= 600;
      spec['strategy'] ??= {
        type: 'RollingUpdate',
        rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
      };
      break;
    }
    default:
      break;
  }
}

/** The Job controller's selector and pod template labels, keyed by the new Job's uid. */
export function labelJob(obj: KubeObject): void {
  if (`${obj.apiVersion}/${obj.kind}` !== 'batch/v1/Job') return;
  const spec = asObj(obj['spec']);
  if (spec['manualSelector'] === true) return;
  const uid = obj.metadata.uid as string;
  const name = obj.metadata.name as string;
  spec['selector'] = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
  const template = asObj(spec['template']);
  const meta = asObj((template['metadata'] ??= {}));
  meta['labels'] = {
    ...asObj(meta['labels']),
    'batch.kubernetes.io/controller-uid': uid,
    'batch.kubernetes.io/job-name': name,
    'controller-uid': uid,
    'job-name': name,
  };
}

function podSpecCauses(spec: unknown, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  const containers = asObj(spec)['containers'];
  if (!Array.isArray(containers) || containers.length === 0) {
    return [{ reason: 'FieldValueRequired', field: `${path}.containers`, message: 'Required value' }];
  }
  containers.forEach((c, i) => {
    const container = asObj(c);
    if (typeof container['name'] !== 'string' || container['name'] === '') {
      causes.push({
        reason: 'FieldValueRequired',
        field: `${path}.containers[${i}].name`,
        message: 'Required value',
      });
    }
    if (typeof container['image'] !== 'string' || container['image'] === '') {
      causes.push({
        reason: 'FieldValueRequired',
        field: `${path}.containers[${i}].image`,
        message: 'Required value',
      });
    }
  });
  return causes;
}

export function validateWorkload(obj: KubeObject): StatusCause[] {
  const spec = asObj(obj['spec']);
  switch (`${obj.apiVersion}/${obj.kind}`) {
    case 'v1/Pod':
      return podSpecCauses(spec, 'spec');
    case 'batch/v1/Job': {
      const podSpec = asObj(asObj(spec['template'])['spec']);
      const causes = podSpecCauses(podSpec, 'spec.template.spec');
      const policy = podSpec['restartPolicy'];
      if (policy !== 'Never' && policy !== 'OnFailure') {
        causes.push({
          reason: 'FieldValueNotSupported',
          field: 'spec.template.spec.restartPolicy',
          message: `Unsupported value: ${JSON.stringify(policy ?? '')}: supported values: "OnFailure", "Never"`,
        });
      }
      return causes;
    }
    case 'apps/v1/Deployment':
      return podSpecCauses(asObj(spec['template'])['spec'], 'spec.template.spec');
    default:
      return [];
  }
}
