// The exporter's progress write throttle.
import { describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { throttle, type ThrottleClock } from '../../functions/export/job/throttle.ts';

describe('throttle', () => {
  function fakeClock() {
    let now = 0;
    const timers: Array<{ at: number; fn: () => void; id: number }> = [];
    let id = 0;
    const clock: ThrottleClock = {
      now: () => now,
      setTimer: (fn, ms) => {
        timers.push({ at: now + ms, fn, id: ++id });
        return id;
      },
      clearTimer: (h) => {
        const i = timers.findIndex((t) => t.id === h);
        if (i >= 0) timers.splice(i, 1);
      },
    };
    const advance = async (ms: number) => {
      now += ms;
      for (const t of timers.filter((t) => t.at <= now)) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
      await new Promise((r) => setImmediate(r));
    };
    return { clock, advance };
  }

  test('at most one run per interval, the last change is never lost', async () => {
    const { clock, advance } = fakeClock();
    const run = mock.fn(async () => undefined);
    const t = throttle(run, 2000, undefined, clock);
    t.signal(); // runs at once
    await advance(0);
    assert.equal(run.mock.callCount(), 1);
    for (let i = 0; i < 50; i++) {
      t.signal();
      await advance(10);
    }
    assert.equal(run.mock.callCount(), 1);
    await advance(2000);
    assert.equal(run.mock.callCount(), 2);
    await advance(5000);
    assert.equal(run.mock.callCount(), 2); // nothing new
    t.signal();
    await t.flush();
    assert.equal(run.mock.callCount(), 3);
    await t.flush();
    assert.equal(run.mock.callCount(), 3);
  });
  test('runs never overlap and errors go to onError', async () => {
    let active = 0;
    let maxActive = 0;
    const errors: unknown[] = [];
    const t = throttle(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        throw new Error('boom');
      },
      0,
      (e) => errors.push(e),
    );
    t.signal();
    t.signal();
    t.signal();
    await t.flush();
    assert.equal(maxActive, 1);
    assert.ok(errors.length >= 1);
  });
});
