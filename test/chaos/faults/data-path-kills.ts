// The data path's own processes SIGKILLed: the export Job's pod mid-transfer (the Job controller
// makes a new pod, backoffLimit; the new exporter starts the export over on the same scratch
// volume: no partial image of the killed one is kept, its progress restarts from 0, an export lease
// it left is aborted), and the per-import disk server mid-download (its Deployment's pod restarts;
// Harvester's downloader fails the image and retries it, spec.retry, or our resubmission does).
import { importObjectNames } from '../../../functions/shared/import-objects.ts';
import type { ChaosContext, ChaosSource, ChaosTarget, Fault, Injection, Moment } from '../fault.ts';
import { describeObservation, momentReached, observe } from '../moments.ts';
import { killPodContainer, runningPods } from '../pod-process.ts';

function killOne(selector: (t: ChaosTarget) => string, what: string, moment: Moment) {
  return async (ctx: ChaosContext, target: ChaosTarget): Promise<Injection> => {
    const [pod] = await runningPods(ctx.cluster, target.namespace, selector(target));
    if (!pod) return { hit: false, proof: `no running pod of the ${what} (${selector(target)})` };
    const at = await observe(ctx.cluster, target);
    const killed = await killPodContainer(ctx.cluster, target.namespace, pod);
    return {
      hit: momentReached(moment, at),
      proof: `${what}: pid ${killed.pid} of ${pod} SIGKILLed; import ${describeObservation(at)}`,
    };
  };
}

const exportJobKilled = (source: ChaosSource, moment: Moment): Fault => ({
  name: 'export Job pod SIGKILLed',
  kind: 'export-job-killed',
  source,
  moment,
  expected: { end: 'running' },
  // The Job controller labels its pods job-name=<job>.
  inject: killOne((t) => `job-name=${importObjectNames(t.name).exportJob}`, 'export Job', moment),
});

// Harvester's download from the disk server is not behind the shaped source link and takes well
// under a second for a chaos VM, shorter than the runner's poll: the fault acts as soon as the
// images are submitted, and its proof shows how far each image's download was.
const IMAGES_SUBMITTED: Moment = { phase: 'diskImageSubmitted' };
const diskServerKilled = (source: ChaosSource): Fault => ({
  name: 'disk server SIGKILLed',
  kind: 'disk-server-killed',
  source,
  moment: IMAGES_SUBMITTED,
  expected: { end: 'running' },
  // The disk server's Deployment selects app=<its name> (functions/shared/disk-server/workload.ts).
  inject: killOne((t) => `app=${importObjectNames(t.name).diskServer}`, 'disk server', IMAGES_SUBMITTED),
});

export const dataPathKillFaults: Fault[] = [
  exportJobKilled('vmware', 'mid-transfer'),
  exportJobKilled('openstack', 'mid-transfer'),
  exportJobKilled('vmware', 'near-end'),
  diskServerKilled('ova'),
  diskServerKilled('vmware'),
];
