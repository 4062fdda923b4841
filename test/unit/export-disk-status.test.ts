// The exporter's per-disk progress in the import's status.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyProgress, diskImportStatusOf, type DiskState } from '../../functions/export/job/disk-status.ts';

describe('disk status', () => {
  test('progress reports become diskImportStatus entries; others’ fields are kept', () => {
    const states = new Map<number, DiskState>();
    states.set(1, { index: 1, sizeBytes: 100, bus: 'sata', phase: 'pending', bytesDone: 0, bytesTotal: 100 });
    applyProgress(states, { index: 1, phase: 'exporting', bytesDone: 40, bytesTotal: 80 });
    applyProgress(states, { index: 0, phase: 'done', bytesDone: 10, bytesTotal: 10 });
    const list = diskImportStatusOf(
      [{ diskName: 'disk-1.img', VirtualMachineImage: 'image-x' }],
      states.values(),
      '/scratch',
      'virtio',
    );
    assert.deepEqual(
      list.map((d) => [
        d.diskName,
        d.diskSize,
        d.busType,
        d.progress?.phase,
        d.progress?.bytesDone,
        d.VirtualMachineImage,
      ]),
      [
        ['disk-0.img', null, 'virtio', 'verifying', 10, undefined],
        ['disk-1.img', 100, 'sata', 'exporting', 40, 'image-x'],
      ],
    );
    assert.equal(list[0]!.diskLocalPath, '/scratch');
  });
});
