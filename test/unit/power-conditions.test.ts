// The power conditions the export Job records, read back (a re-run Job resumes from them).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { powerConditionsOf } from '../../functions/shared/sources/power-conditions.ts';
import { conditionForPowerAction } from '../../functions/shared/sources/vmware/power-step.ts';

describe('power conditions', () => {
  const spec = { gracefulShutdownTimeoutSeconds: 30 };
  test('each action maps to its upstream condition with reason and message', () => {
    const off = conditionForPowerAction({ kind: 'markPoweredOff', condition: 'VMPoweredOff' }, 'vm1', spec);
    assert.deepEqual([off?.type, off?.status, off?.reason], ['VMPoweredOff', 'True', 'PoweredOff']);
    const guest = conditionForPowerAction(
      { kind: 'shutdownGuest', condition: 'VMShutdownGuest' },
      'vm1',
      spec,
    );
    assert.equal(guest?.type, 'VMShutdownGuest');
    assert.match(guest?.message ?? '', /30 s/);
    const forced = conditionForPowerAction(
      { kind: 'powerOff', condition: 'VMPoweringOff', why: 'forced' },
      'vm1',
      spec,
    );
    assert.deepEqual([forced?.type, forced?.reason], ['VMPoweringOff', 'ForcePowerOff']);
    const timeout = conditionForPowerAction(
      { kind: 'powerOff', condition: 'VMPoweringOff', why: 'gracefulTimeout' },
      'vm1',
      {},
    );
    assert.equal(timeout?.reason, 'GracefulShutdownTimeout');
    assert.match(timeout?.message ?? '', /60 s/);
    assert.equal(conditionForPowerAction({ kind: 'wait', recheckAfterSeconds: 5 }, 'vm1', spec), undefined);
    assert.equal(
      conditionForPowerAction({ kind: 'fail', reason: 'VmNotPoweredOff', message: 'y' }, 'vm1', spec),
      undefined,
    );
  });
  test('conditions already True resume with their transition time', () => {
    const c = powerConditionsOf([
      { type: 'VMShutdownGuest', status: 'True', lastTransitionTime: '2024-01-01T00:00:00Z' },
      { type: 'VMPoweringOff', status: 'False' },
      { type: 'VMExported', status: 'True' },
    ]);
    assert.deepEqual(Object.keys(c), ['VMShutdownGuest']);
    assert.equal(c.VMShutdownGuest?.since.toISOString(), '2024-01-01T00:00:00.000Z');
  });
});
