// The source adapter map, the one transport-error classifier and the one per-disk worker pool.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JOB_SETTING_NAMES } from '../../functions/export/job-spec.ts';
import { SOURCE_KINDS } from '../../functions/shared/api/index.ts';
import { settings } from '../../functions/shared/settings.ts';
import { adapterFor, SOURCES } from '../../functions/shared/sources/adapters.ts';
import { forEachDisk } from '../../functions/shared/sources/disk-pool.ts';
import { transportProblemOf } from '../../functions/shared/sources/transport-errors.ts';

describe('source adapters', () => {
  test('every source kind loads an adapter; its settings reach the ConfigMap and the export Job', async () => {
    for (const kind of SOURCE_KINDS) {
      const adapter = await adapterFor(kind);
      assert.ok(adapter.label, kind);
      for (const [name, setting] of Object.entries(SOURCES[kind].settings)) {
        assert.equal((settings.runtime as Record<string, string>)[name], setting.default, name);
        assert.ok((JOB_SETTING_NAMES as readonly string[]).includes(name), name);
      }
    }
  });
  test('an OVA has nothing to power on, and records that it had nothing to power off', async () => {
    const ova = await adapterFor('OvaSource');
    const target = {
      kind: 'OvaSource' as const,
      source: { spec: {} },
      vmImport: { metadata: {}, spec: {} } as never,
    };
    const log = { info() {}, warn() {}, error() {}, debug() {}, child: () => log } as never;
    assert.equal((await ova.powerOn(target, { log })).state, 'notApplicable');
    const recorded: string[] = [];
    const deps = {
      conditions: {},
      record: async (c: { type: string; reason: string }) => void recorded.push(`${c.type}/${c.reason}`),
      log,
      signal: new AbortController().signal,
      env: {},
    };
    await ova.powerOff(target, deps);
    assert.deepEqual(recorded, ['VMPoweredOff/NotApplicable']);
    await ova.powerOff(target, { ...deps, conditions: { VMPoweredOff: { since: new Date() } } });
    assert.equal(recorded.length, 1, 'a re-run records nothing again');
  });
});

describe('transportProblemOf', () => {
  const withCause = (outer: object, cause: object) => Object.assign(new Error('outer'), outer, { cause });
  test('TLS verification, handshake, unreachable: by the code anywhere along the cause chain', () => {
    const tls = withCause({}, Object.assign(new Error('self-signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }));
    assert.deepEqual(transportProblemOf(tls), {
      kind: 'tls-verify',
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
      message: 'self-signed',
    });
    assert.equal(transportProblemOf(Object.assign(new Error('x'), { code: 'EPROTO' })).kind, 'tls-handshake');
    assert.equal(
      transportProblemOf(Object.assign(new Error('x'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' })).kind,
      'tls-handshake',
    );
    assert.equal(transportProblemOf(withCause({ code: 'ECONNREFUSED' }, {})).kind, 'unreachable');
  });
  test('an HTTP answer, an abort, anything else', () => {
    assert.deepEqual(transportProblemOf(Object.assign(new Error('bad'), { response: { status: 503 } })), {
      kind: 'http',
      status: 503,
      statusText: '',
    });
    assert.equal(transportProblemOf(Object.assign(new Error('x'), { name: 'AbortError' })).kind, 'aborted');
    assert.equal(transportProblemOf(Object.assign(new Error('x'), { code: 'ERR_CANCELED' })).kind, 'aborted');
    assert.deepEqual(transportProblemOf(new Error('odd')), { kind: 'other', message: 'odd' });
  });
});

describe('forEachDisk', () => {
  test('runs at most `concurrency` disks at a time, every disk once', async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachDisk([1, 2, 3, 4, 5], 2, new AbortController(), async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      done.push(n);
    });
    assert.equal(peak, 2);
    assert.deepEqual(done.sort(), [1, 2, 3, 4, 5]);
  });
  test('the first failure aborts the others, starts no new disk, and is thrown after all settled', async () => {
    const stop = new AbortController();
    const started: number[] = [];
    let settled = 0;
    const failure = new Error('disk 1 failed');
    await assert.rejects(
      forEachDisk([1, 2, 3, 4], 2, stop, async (n, signal) => {
        started.push(n);
        try {
          if (n === 1) throw failure;
          await new Promise((resolve, reject) => {
            const t = setTimeout(resolve, 1000);
            signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)), { once: true });
          });
        } finally {
          settled++;
        }
      }),
      (e) => e === failure,
    );
    assert.deepEqual(started, [1, 2]);
    assert.equal(settled, 2);
    assert.equal(stop.signal.reason, failure);
  });
});
