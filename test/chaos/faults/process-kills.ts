// Pods killed with SIGKILL at a moment of the import: one of our functions, and Knative's broker
// (its filter, which delivers to the Triggers, and its ingress, which takes the sources' events).
// Their Deployments' pods restart (restartPolicy Always, the kubelet's back-off); events in
// flight are lost or repeated, and the functions' idempotence plus the resync ping must carry the
// import to its end.
import { KNATIVE_NAMESPACE } from '../../../local-cluster/runtime/knative/eventing-install.ts';
import type { ChaosContext, ChaosSource, ChaosTarget, Fault, Injection, Moment } from '../fault.ts';
import { describeObservation, observe, type ImportObservation } from '../moments.ts';
import { findPodContainer, runningPods } from '../pod-process.ts';

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

/** A pod found before the import starts (Fault.arm), to be killed at the moment. */
interface ArmedPod {
  pod: string;
  pid: number;
  /** The container's restart count before the kill (the kubelet restarts it at once the first time). */
  restarts: number;
}

async function armPod(
  ctx: ChaosContext,
  namespace: string,
  selector: string,
  what: string,
): Promise<ArmedPod> {
  const [pod] = await runningPods(ctx.cluster, namespace, selector);
  if (!pod) throw new Error(`no running pod of ${what} (${selector})`);
  const restarts = await restartCount(ctx, namespace, pod);
  return { pod, restarts, pid: (await findPodContainer(ctx.cluster, namespace, pod)).pid };
}

/** SIGKILLs the armed pod's container; the proof names it, its PID and where the import was. */
async function killArmed(
  ctx: ChaosContext,
  target: ChaosTarget,
  armed: ArmedPod | undefined,
  what: string,
  at: ImportObservation,
): Promise<Injection> {
  if (!armed) return { hit: false, proof: `${what}: not armed` };
  const killedAt = Date.now();
  process.kill(armed.pid, 'SIGKILL');
  const after = await observe(ctx.cluster, target);
  return {
    hit: true,
    proof: `${what}: pid ${armed.pid} of ${armed.pod} SIGKILLed at ${describeObservation(at)} (${killedAt - at.observedAt} ms after that observation); then ${describeObservation(after)}`,
  };
}

/**
 * Whether the killed container had logged its step for the import from `phase` (each function logs
 * "step" with from/to once a step is done): read from the container's previous instance through
 * the kubelet's log API (kubectl logs --previous) once the pod restarted.
 */
async function stepLoggedBeforeKill(
  ctx: ChaosContext,
  target: ChaosTarget,
  pod: string,
  restarts: number,
  phase: string,
): Promise<boolean | undefined> {
  const deadline = Date.now() + 120_000;
  while ((await restartCount(ctx, FUNCTIONS_NAMESPACE, pod).catch(() => restarts)) <= restarts) {
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 500));
  }
  const previous = await ctx.cluster.kubectl(['logs', pod, '-n', FUNCTIONS_NAMESPACE, '--previous']);
  return previous.split('\n').some((line) => {
    try {
      const l = JSON.parse(line) as { msg?: string; import?: string; from?: string };
      return l.msg === 'step' && l.import === target.name && (l.from ?? '') === phase;
    } catch {
      return false;
    }
  });
}

function functionKilled(fn: string, source: ChaosSource, moment: Moment): Fault {
  let armed: ArmedPod | undefined;
  return {
    name: `function ${fn} SIGKILLed`,
    kind: 'function-killed',
    source,
    moment,
    expected: { end: 'running' },
    async arm(ctx) {
      armed = await armPod(
        ctx,
        FUNCTIONS_NAMESPACE,
        `functions.vm-import.harvesterhci.io/name=${fn}`,
        `function ${fn}`,
      );
    },
    async inject(ctx, target, at) {
      const killed = await killArmed(ctx, target, armed, `function ${fn}`, at);
      // Killed in a phase this function handles: mid-step only if its step for that phase had
      // not finished in the killed container.
      if (typeof moment !== 'object' || !armed) return killed;
      const logged = await stepLoggedBeforeKill(ctx, target, armed.pod, armed.restarts, moment.phase);
      const step =
        logged === undefined
          ? 'the pod did not restart in 120 s'
          : logged
            ? `its step from ${moment.phase || 'new'} had already finished`
            : `its step from ${moment.phase || 'new'} had not finished (kubectl logs --previous)`;
      return { proof: `${killed.proof}; ${step}`, hit: killed.hit && logged === false };
    },
  };
}

function brokerKilled(role: 'filter' | 'ingress', source: ChaosSource, moment: Moment): Fault {
  let armed: ArmedPod | undefined;
  const selector = `eventing.knative.dev/brokerRole=${role}`;
  return {
    name: `broker ${role} SIGKILLed`,
    kind: 'broker-killed',
    source,
    moment,
    expected: { end: 'running' },
    async arm(ctx) {
      armed = await armPod(ctx, KNATIVE_NAMESPACE, selector, `mt-broker-${role}`);
    },
    inject: (ctx, target, at) => killArmed(ctx, target, armed, `mt-broker-${role}`, at),
  };
}

export const processKillFaults: Fault[] = [
  // Killed as soon as its phase begins, while the event of the phase is in flight or being
  // handled: the proof reads the killed container's log to tell. (The vm function's step is too
  // short for a poll of the phase to catch it running.)
  functionKilled('preflight', 'vmware', { phase: '' }),
  functionKilled('export-status', 'openstack', 'mid-transfer'),
  functionKilled('images', 'ova', { phase: 'disksExported' }),
  brokerKilled('filter', 'vmware', 'mid-transfer'),
  brokerKilled('ingress', 'ova', 'image-download'),
];
