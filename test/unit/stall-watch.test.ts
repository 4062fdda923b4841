import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchForStall } from '../../functions/shared/sources/stall-watch.ts';

const stalled = () => new Error('stalled');

test('a source that goes silent fails after the stall time and is destroyed', async () => {
  const source = new PassThrough();
  const body = watchForStall(source, 100, stalled);
  source.write(Buffer.alloc(10));
  const chunks: Buffer[] = [];
  const started = Date.now();
  await assert.rejects(
    (async () => {
      for await (const c of body) chunks.push(c as Buffer);
    })(),
    /stalled/,
  );
  assert.equal(chunks.length, 1);
  assert.ok(Date.now() - started >= 90);
  assert.equal(source.destroyed, true);
});

test('a slow but steady source is not a stall', async () => {
  async function* slow() {
    for (let i = 0; i < 5; i++) {
      await sleep(60);
      yield Buffer.alloc(1);
    }
  }
  const body = watchForStall(Readable.from(slow()), 150, stalled);
  let n = 0;
  for await (const c of body) n += (c as Buffer).length;
  assert.equal(n, 5);
});

test('a consumer that does not read (a slow disk) is not a stall of the source', async () => {
  const source = Readable.from([Buffer.alloc(4 * 1024 * 1024)]);
  const body = watchForStall(source, 50, stalled);
  await sleep(200);
  let n = 0;
  for await (const c of body) n += (c as Buffer).length;
  assert.equal(n, 4 * 1024 * 1024);
});
