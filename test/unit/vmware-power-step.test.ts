import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextPowerAction, type PowerStepInput } from '../../functions/shared/sources/vmware/power-step.ts';

const now = new Date('2026-01-01T00:10:00Z');
const ago = (s: number) => ({ since: new Date(now.getTime() - s * 1000) });
const on = { name: 'vm1', powerState: 'poweredOn' as const, toolsRunning: true };
const input = (over: Partial<PowerStepInput>): PowerStepInput => ({
  forcePowerOff: false,
  conditions: {},
  vm: on,
  now,
  ...over,
});

test('already recorded as powered off: done', () => {
  assert.deepEqual(nextPowerAction(input({ conditions: { VMPoweredOff: ago(1) } })), { kind: 'done' });
});

test('a VM that is off is marked powered off without a shutdown', () => {
  assert.equal(
    nextPowerAction(input({ vm: { ...on, powerState: 'poweredOff', toolsRunning: false } })).kind,
    'markPoweredOff',
  );
});

test('graceful: shutdownGuest first, then wait, then escalate after the timeout', () => {
  assert.equal(nextPowerAction(input({})).kind, 'shutdownGuest');
  const waiting = nextPowerAction(
    input({ gracefulShutdownTimeoutSeconds: 30, conditions: { VMShutdownGuest: ago(10) } }),
  );
  assert.deepEqual(waiting, { kind: 'wait', recheckAfterSeconds: 5 });
  assert.deepEqual(
    nextPowerAction(input({ gracefulShutdownTimeoutSeconds: 30, conditions: { VMShutdownGuest: ago(31) } })),
    {
      kind: 'powerOff',
      condition: 'VMPoweringOff',
      why: 'gracefulTimeout',
    },
  );
});

test('timeout <= 0 or absent means 60 s', () => {
  assert.equal(
    nextPowerAction(input({ gracefulShutdownTimeoutSeconds: 0, conditions: { VMShutdownGuest: ago(59) } }))
      .kind,
    'wait',
  );
  assert.equal(nextPowerAction(input({ conditions: { VMShutdownGuest: ago(61) } })).kind, 'powerOff');
});

test('near the timeout the recheck is shorter than the poll interval', () => {
  const action = nextPowerAction(
    input({ gracefulShutdownTimeoutSeconds: 12, conditions: { VMShutdownGuest: ago(10) } }),
  );
  assert.deepEqual(action, { kind: 'wait', recheckAfterSeconds: 2 });
});

test('forced: power off at once, without Tools', () => {
  const action = nextPowerAction(input({ forcePowerOff: true, vm: { ...on, toolsRunning: false } }));
  assert.deepEqual(action, { kind: 'powerOff', condition: 'VMPoweringOff', why: 'forced' });
});

test('powering off: wait, and issue the power-off again if it has not taken effect after 60 s', () => {
  assert.equal(
    nextPowerAction(input({ forcePowerOff: true, conditions: { VMPoweringOff: ago(3) } })).kind,
    'wait',
  );
  const retry = nextPowerAction(input({ forcePowerOff: true, conditions: { VMPoweringOff: ago(61) } }));
  assert.deepEqual(retry, { kind: 'powerOff', condition: 'VMPoweringOff', why: 'retry' });
});

test('no Tools and no force: a terminal failure with the upstream message (suspended too)', () => {
  for (const vm of [
    { ...on, toolsRunning: false },
    { ...on, powerState: 'suspended' as const, toolsRunning: false },
  ]) {
    assert.deepEqual(nextPowerAction(input({ vm })), {
      kind: 'fail',
      reason: 'ToolsNotRunning',
      message:
        "cannot shutdown guest OS, VMware Tools is not running in the VM vm1. Shut down the VM manually or use the 'spec.forcePowerOff' field",
    });
  }
});

test('Tools stopped after the shutdown request: wait for the timeout, then power off', () => {
  const vm = { ...on, toolsRunning: false };
  assert.equal(nextPowerAction(input({ vm, conditions: { VMShutdownGuest: ago(5) } })).kind, 'wait');
  assert.equal(nextPowerAction(input({ vm, conditions: { VMShutdownGuest: ago(65) } })).kind, 'powerOff');
});
