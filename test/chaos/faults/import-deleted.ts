// The import deleted at each phase: cleanup must remove everything it made (export Job, scratch,
// disk server, images, credentials copies) and leave the source as the rules say (powered back on
// unless the VM exists).
import type { ChaosSource, Fault, Moment } from '../fault.ts';
import { describeObservation, observe } from '../moments.ts';

function deletedAt(source: ChaosSource, moment: Moment): Fault {
  return {
    name: 'import deleted',
    kind: 'import-deleted',
    source,
    moment,
    expected: { end: 'deleted' },
    async inject(ctx, target) {
      const at = await observe(ctx.cluster, target);
      await ctx.cluster.kubectl([
        'delete',
        'virtualmachineimport.migration',
        target.name,
        '-n',
        target.namespace,
        '--wait=false',
      ]);
      return { hit: !!at.status, proof: `deleted while ${describeObservation(at)}` };
    },
  };
}

export const importDeletedFaults: Fault[] = [
  deletedAt('vmware', 'mid-transfer'),
  deletedAt('ova', { phase: '' }),
  deletedAt('openstack', { phase: 'sourceReady' }),
  deletedAt('ova', { phase: 'disksExported' }),
  deletedAt('ova', 'image-download'),
  deletedAt('vmware', { phase: 'diskImagesReady' }),
  deletedAt('vmware', { phase: 'virtualMachineCreated' }),
];
