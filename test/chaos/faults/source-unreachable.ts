// The source unreachable for 30 s mid-transfer: every packet from the pods to its port dropped
// (a firewall that drops: no reset, only silence). A cut this short is bridged by TCP itself (its
// retransmissions resume the same connections once the port is back) and the export goes on; a
// longer one ends each download at the stall limit (DOWNLOAD_STALL_TIMEOUT_MS) with a retryable
// Timeout, never a hang.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosSource, Fault } from '../fault.ts';
import { describeTransfer, importStatus, isMidTransfer, transferOf } from './import-view.ts';

const OUTAGE_MS = 30_000;

const sourceUnreachable = (source: ChaosSource): Fault => ({
  name: `source port dropped for ${OUTAGE_MS / 1000} s, ${source}, mid-transfer`,
  kind: 'source-unreachable',
  source,
  moment: 'mid-transfer',
  expected: { end: 'running' },
  async inject({ cluster, sourceLink, log }, target) {
    const transfer = transferOf(await importStatus(cluster, target));
    const restore = await sourceLink.drop(source);
    const droppedAt = Date.now();
    log(`${source} port ${sourceLink.port(source)} dropped at ${describeTransfer(transfer)}`);
    return {
      proof: `port ${sourceLink.port(source)} dropped for ${OUTAGE_MS / 1000} s from ${describeTransfer(transfer)}`,
      hit: isMidTransfer(transfer),
      heal: async () => {
        await sleep(Math.max(0, OUTAGE_MS - (Date.now() - droppedAt)));
        await restore();
        const after = transferOf(await importStatus(cluster, target));
        log(`${source} port restored; the import reports ${describeTransfer(after)}`);
      },
    };
  },
});

export const sourceUnreachableFaults: Fault[] = [
  sourceUnreachable('vmware'),
  sourceUnreachable('openstack'),
  sourceUnreachable('ova'),
];
