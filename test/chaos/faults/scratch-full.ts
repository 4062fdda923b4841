// The scratch volume fills mid-transfer: another writer takes all its free space (a file written
// into the mounted ext4 volume from the host, which is what a second writer or a thin pool running
// dry looks like to the exporter). The import must fail terminally, saying the volume is full and
// what to do, without the Job retrying; the filler goes with the scratch volume.
import { join } from 'node:path';
import { importObjectNames } from '../../../functions/shared/import-objects.ts';
import { fillVolume } from '../../support/fill-volume.ts';
import type { ChaosSource, Fault } from '../fault.ts';
import { describeObservation, momentReached, observe } from '../moments.ts';

const scratchFull = (source: ChaosSource): Fault => ({
  name: `scratch volume filled by another writer`,
  kind: 'scratch-full',
  source,
  moment: 'mid-transfer',
  expected: { end: 'failed', message: /scratch volume is full.*delete the import and create it again/s },
  async inject({ cluster }, target) {
    const at = await observe(cluster, target);
    // Where the local cluster mounts the claim on the host (runtime/storage/volume-backing.ts).
    const mount = join(
      cluster.stateDir,
      'volumes',
      target.namespace,
      importObjectNames(target.name).scratchClaim,
    );
    const filled = await fillVolume(mount);
    return {
      proof: `${(filled / 2 ** 20).toFixed(0)} MiB written into the scratch volume; import ${describeObservation(at)}`,
      hit: filled > 0 && momentReached('mid-transfer', at),
    };
  },
});

// OpenStack's full scratch takes the same path (test/integration/export-job-scratch-full.test.ts);
// its whole-GiB volumes take minutes through the shaped link.
export const scratchFullFaults: Fault[] = [scratchFull('vmware')];
