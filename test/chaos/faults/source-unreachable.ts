// The source unreachable for 30 s mid-transfer: every packet from the pods to its port dropped
// (a firewall that drops: no reset, only silence). A cut this short is bridged by TCP itself (its
// retransmissions resume the same connections once the port is back) and the export goes on; a
// longer one ends each download at the stall limit (DOWNLOAD_STALL_TIMEOUT_MS) with a retryable
// Timeout, never a hang.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosSource, Fault } from '../fault.ts';
import { describeObservation, momentReached, observe } from '../moments.ts';

const OUTAGE_MS = 30_000;

const sourceUnreachable = (source: ChaosSource): Fault => ({
  name: `source port dropped for ${OUTAGE_MS / 1000} s`,
  kind: 'source-unreachable',
  source,
  moment: 'mid-transfer',
  expected: { end: 'running' },
  async inject({ cluster, sourceLink, log }, target) {
    const at = await observe(cluster, target);
    const restore = await sourceLink.drop(source);
    const droppedAt = Date.now();
    const port = sourceLink.port(source);
    return {
      proof: `port ${port} dropped for ${OUTAGE_MS / 1000} s; import ${describeObservation(at)}`,
      hit: momentReached('mid-transfer', at),
      heal: async () => {
        await sleep(Math.max(0, OUTAGE_MS - (Date.now() - droppedAt)));
        const before = await observe(cluster, target);
        await restore();
        log(
          `port ${port} back after ${((Date.now() - droppedAt) / 1000).toFixed(0)} s; import ${describeObservation(before)}`,
        );
      },
    };
  },
});

export const sourceUnreachableFaults: Fault[] = [
  sourceUnreachable('vmware'),
  sourceUnreachable('openstack'),
  sourceUnreachable('ova'),
];
