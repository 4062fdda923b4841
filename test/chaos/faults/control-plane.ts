// The API server or etcd stopped and started again mid-import, as a kubelet restarts a static
// pod: watches break (the ApiServerSource's adapter, the functions' clients, the export Job's
// status writes), requests fail while it is down, and everything must carry on once it is back.
import type { ChaosSource, Fault, Moment } from '../fault.ts';
import { describeObservation, momentReached, observe } from '../moments.ts';

function restarted(component: 'kube-apiserver' | 'etcd', source: ChaosSource, moment: Moment): Fault {
  return {
    name: `${component} restarted`,
    kind: component === 'etcd' ? 'etcd-restarted' : 'api-server-restarted',
    source,
    moment,
    expected: { end: 'running' },
    async inject(ctx, target) {
      const before = ctx.cluster.controlPlane.processes.find((p) => p.name === component)!.pid;
      const began = Date.now();
      await ctx.cluster.controlPlane.restart(component);
      const after = ctx.cluster.controlPlane.processes.find((p) => p.name === component)!.pid;
      const at = await observe(ctx.cluster, target);
      return {
        // The moment was reached just before; the restart itself takes seconds, during which the
        // import may move on: the hit is that it had not ended.
        hit:
          before !== after &&
          (momentReached(moment, at) ||
            !['virtualMachineRunning', 'VMMigrationFailed'].includes(at.status?.importStatus ?? '')),
        proof: `${component} pid ${before} stopped, pid ${after} ready after ${((Date.now() - began) / 1000).toFixed(1)} s; import then ${describeObservation(at)}`,
      };
    },
  };
}

export const controlPlaneFaults: Fault[] = [
  restarted('kube-apiserver', 'vmware', 'mid-transfer'),
  restarted('etcd', 'ova', 'mid-transfer'),
  restarted('kube-apiserver', 'ova', 'image-download'),
  restarted('etcd', 'vmware', 'vm-creation'),
];
