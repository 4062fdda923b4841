// Pods killed with SIGKILL at a moment of the import: one of our functions, and Knative's broker
// (its filter, which delivers to the Triggers, and its ingress, which takes the sources' events).
// Their Deployments' pods restart (restartPolicy Always, the kubelet's back-off); events in
// flight are lost or repeated, and the functions' idempotence plus the resync ping must carry the
// import to its end.
import { KNATIVE_NAMESPACE } from '../../../local-cluster/runtime/knative/eventing-install.ts';
import type { ChaosContext, ChaosSource, Fault, Injection, Moment } from '../fault.ts';
import { describeObservation, momentReached, observe } from '../moments.ts';
import { killPodContainer, runningPods } from '../pod-process.ts';

const FUNCTIONS_NAMESPACE = 'vm-import-system';

async function restartCount(ctx: ChaosContext, namespace: string, pod: string): Promise<number> {
  const out = await ctx.cluster.kubectl([
    'get',
    'pod',
    pod,
    '-n',
    namespace,
    '-o',
    'jsonpath={.status.containerStatuses[0].restartCount}',
  ]);
  return Number(out || 0);
}

/** Kills the one running pod matching `selector`; the proof names it, its PID and where the import was. */
function killPod(namespace: string, selector: string, what: string, moment: Moment) {
  return async (ctx: ChaosContext, target: Parameters<Fault['inject']>[1]): Promise<Injection> => {
    const [pod] = await runningPods(ctx.cluster, namespace, selector);
    if (!pod) return { hit: false, proof: `no running pod of ${what} (${selector})` };
    const before = await restartCount(ctx, namespace, pod);
    const killed = await killPodContainer(ctx.cluster, namespace, pod);
    const at = await observe(ctx.cluster, target);
    const hit = momentReached(moment, at) || typeof moment === 'object';
    return {
      hit,
      proof: `${what}: pid ${killed.pid} of ${pod} SIGKILLed (restarts ${before}); import then ${describeObservation(at)}`,
    };
  };
}

function functionKilled(fn: string, source: ChaosSource, moment: Moment): Fault {
  return {
    name: `function ${fn} SIGKILLed`,
    kind: 'function-killed',
    source,
    moment,
    expected: { end: 'running' },
    inject: killPod(
      FUNCTIONS_NAMESPACE,
      `functions.vm-import.harvesterhci.io/name=${fn}`,
      `function ${fn}`,
      moment,
    ),
  };
}

function brokerKilled(role: 'filter' | 'ingress', source: ChaosSource, moment: Moment): Fault {
  return {
    name: `broker ${role} SIGKILLed`,
    kind: 'broker-killed',
    source,
    moment,
    expected: { end: 'running' },
    inject: killPod(
      KNATIVE_NAMESPACE,
      `eventing.knative.dev/brokerRole=${role}`,
      `mt-broker-${role}`,
      moment,
    ),
  };
}

export const processKillFaults: Fault[] = [
  // The vm function the moment the images are ready: the event that makes it create the VM is
  // in flight or being handled.
  functionKilled('vm', 'vmware', { phase: 'diskImagesReady' }),
  functionKilled('export-status', 'openstack', 'mid-transfer'),
  functionKilled('images', 'ova', { phase: 'disksExported' }),
  brokerKilled('filter', 'vmware', 'mid-transfer'),
  brokerKilled('ingress', 'ova', 'image-download'),
];
