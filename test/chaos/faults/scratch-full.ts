// The scratch volume fills mid-transfer: another writer takes all its free space (a file written
// into the mounted ext4 volume from the host, which is what a second writer or a thin pool running
// dry looks like to the exporter). The import must fail terminally, saying the volume is full and
// what to do, without the Job retrying; the filler goes with the scratch volume.
import { fillVolume } from '../../support/fill-volume.ts';
import type { ChaosSource, Fault } from '../fault.ts';
import { describeTransfer, importStatus, isMidTransfer, scratchMount, transferOf } from './import-view.ts';

const scratchFull = (source: ChaosSource): Fault => ({
  name: `scratch volume filled by another writer, ${source}, mid-transfer`,
  kind: 'scratch-full',
  source,
  moment: 'mid-transfer',
  expected: { end: 'failed', message: /scratch volume is full.*delete the import and create it again/s },
  async inject({ cluster }, target) {
    const transfer = transferOf(await importStatus(cluster, target));
    const filled = await fillVolume(scratchMount(cluster, target));
    return {
      proof: `${(filled / 2 ** 20).toFixed(0)} MiB written into the scratch volume at ${describeTransfer(transfer)}`,
      hit: filled > 0 && isMidTransfer(transfer),
    };
  },
});

export const scratchFullFaults: Fault[] = [scratchFull('vmware'), scratchFull('openstack')];
