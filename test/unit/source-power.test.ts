// When an import that ends without its VM powers the source back on (functions/shared/source-power.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VirtualMachineImport } from '../../functions/shared/api/index.ts';
import {
  powerOnFailureRecord,
  powerOnRecord,
  sourcePowerDecision,
} from '../../functions/shared/source-power.ts';

const cond = (type: string, reason = 'x', status: 'True' | 'False' | 'Unknown' = 'True') => ({
  type,
  status,
  reason,
  message: '',
});
const vmImport = (
  importStatus: string,
  conditions: ReturnType<typeof cond>[],
  spec: Record<string, unknown> = {},
): VirtualMachineImport =>
  ({
    apiVersion: 'migration.harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImport',
    metadata: { name: 'i', namespace: 'default' },
    spec,
    status: { importStatus, importConditions: conditions },
  }) as unknown as VirtualMachineImport;

test('a source the import shut down or powered off is powered on; after the VM exists it is left alone', () => {
  const shutDown = [cond('VMShutdownGuest'), cond('VMPoweredOff', 'PoweredOff')];
  assert.deepEqual(sourcePowerDecision(vmImport('VMMigrationFailed', shutDown), 'vm'), { action: 'powerOn' });
  assert.deepEqual(
    sourcePowerDecision(vmImport('sourceReady', [cond('VMPoweringOff', 'ForcePowerOff')]), 'vm'),
    {
      action: 'powerOn',
    },
  );
  assert.deepEqual(sourcePowerDecision(vmImport('virtualMachineCreated', shutDown), 'vm'), {
    action: 'none',
  });
  assert.deepEqual(sourcePowerDecision(vmImport('virtualMachineRunning', shutDown), 'vm'), {
    action: 'none',
  });
});

test('a source that was off stays off, said once; OVA and imports that never reached the power step say nothing', () => {
  const wasOff = sourcePowerDecision(
    vmImport('VMMigrationFailed', [cond('VMPoweredOff', 'PoweredOff')]),
    'vm',
  );
  assert.equal(wasOff.action, 'record');
  assert.equal(wasOff.action === 'record' && wasOff.record.condition.reason, 'SourceWasOff');
  assert.equal(wasOff.action === 'record' && wasOff.record.condition.status, 'False');
  assert.deepEqual(
    sourcePowerDecision(vmImport('VMMigrationFailed', [cond('VMPoweredOff', 'NotApplicable')]), 'vm'),
    {
      action: 'none',
    },
  );
  assert.deepEqual(sourcePowerDecision(vmImport('virtualMachineImportInvalid', []), 'vm'), {
    action: 'none',
  });
  assert.deepEqual(sourcePowerDecision(vmImport('sourceReady', []), 'vm'), { action: 'none' });
});

test('the opt-out is recorded as a warning; a finished power-on is not repeated, a pending one is', () => {
  const optOut = sourcePowerDecision(
    vmImport('VMMigrationFailed', [cond('VMShutdownGuest')], { powerOnSourceAfterFailure: false }),
    'vm',
  );
  assert.equal(optOut.action === 'record' && optOut.record.condition.reason, 'PowerOnDisabled');
  assert.equal(optOut.action === 'record' && optOut.record.event.type, 'Warning');
  const done = [cond('VMShutdownGuest'), cond('SourcePoweredOn', 'PoweredOn')];
  assert.deepEqual(sourcePowerDecision(vmImport('VMMigrationFailed', done), 'vm'), { action: 'none' });
  const failed = [cond('VMShutdownGuest'), cond('SourcePoweredOn', 'PowerOnFailed', 'False')];
  assert.deepEqual(sourcePowerDecision(vmImport('VMMigrationFailed', failed), 'vm'), { action: 'none' });
  const pending = [cond('VMShutdownGuest'), cond('SourcePoweredOn', 'GuestShuttingDown', 'Unknown')];
  assert.deepEqual(sourcePowerDecision(vmImport('sourceReady', pending), 'vm'), { action: 'powerOn' });
});

test('records: powered on, requested, not applicable, failed for good or for now', () => {
  assert.equal(
    powerOnRecord({ state: 'on', message: 'VM a was powered on' }, 'failed')?.condition.reason,
    'PoweredOn',
  );
  assert.match(
    powerOnRecord({ state: 'on', message: 'VM a was powered on' }, 'failed')?.condition.message ?? '',
    /VM a was powered on, as the import failed after powering it off/,
  );
  assert.equal(
    powerOnRecord({ state: 'requested', message: 'asked' }, 'was deleted')?.condition.reason,
    'PowerOnRequested',
  );
  assert.equal(powerOnRecord({ state: 'notApplicable', message: '' }, 'failed'), undefined);
  const final = powerOnFailureRecord('a', 'PowerOnFailed', 'no permission', true);
  assert.deepEqual([final.condition.status, final.event.type], ['False', 'Warning']);
  assert.match(final.condition.message, /power it on in the source yourself/);
  assert.equal(powerOnFailureRecord('a', 'PowerOnFailed', 'later', false).condition.status, 'Unknown');
});
