import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveDiskFile } from '../../functions/shared/disk/serve.ts';
import { qemuImg, tempDir, writeRawDisk } from './disk-helpers.ts';

const MiB = 1024 * 1024;

describe('serveDiskFile over a real HTTP server', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: Server;
  let base: string;
  let raw: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('disk-serve-'));
    raw = join(dir, 'disk-0.raw');
    await writeRawDisk(raw, 3 * MiB + 4096, [
      { offset: 0, length: 5000 },
      { offset: 2 * MiB, length: 200_000 },
      { offset: 3 * MiB + 4000, length: 96 },
    ]);
    server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/disk-0.img') return void serveDiskFile(req, res, { rawPath: raw, format: 'raw' });
      if (path === '/disk-0.qcow2') return void serveDiskFile(req, res, { rawPath: raw, format: 'qcow2' });
      if (path === '/missing.img')
        return void serveDiskFile(req, res, { rawPath: join(dir, 'nope.raw'), format: 'raw' });
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await cleanup();
  });

  test('GET .img returns the raw disk with validators', async () => {
    const res = await fetch(`${base}/disk-0.img`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.equal(res.headers.get('content-length'), String(3 * MiB + 4096));
    assert.match(res.headers.get('etag') ?? '', /^".+-raw"$/);
    assert.ok(res.headers.get('last-modified'));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(await readFile(raw)));
  });

  test('GET .qcow2 is a valid image of the disk, smaller than the raw size', async () => {
    const res = await fetch(`${base}/disk-0.qcow2`);
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get('content-length'), String(body.length));
    assert.ok(body.length < MiB, `qcow2 is ${body.length} bytes`);
    const file = join(dir, 'downloaded.qcow2');
    await writeFile(file, body);
    assert.match(await qemuImg('check', file), /No errors were found/);
    assert.match(await qemuImg('compare', '-f', 'raw', '-F', 'qcow2', raw, file), /Images are identical/);
  });

  test('HEAD returns headers only', async () => {
    const full = await fetch(`${base}/disk-0.qcow2`, { method: 'HEAD' });
    assert.equal(full.status, 200);
    assert.ok(Number(full.headers.get('content-length')) > 0);
    assert.equal((await full.arrayBuffer()).byteLength, 0);
  });

  test('a download interrupted and resumed with Range equals the full one (qcow2)', async () => {
    const full = Buffer.from(await (await fetch(`${base}/disk-0.qcow2`)).arrayBuffer());
    const etag = (await fetch(`${base}/disk-0.qcow2`, { method: 'HEAD' })).headers.get('etag')!;
    const first = await fetch(`${base}/disk-0.qcow2`, { headers: { Range: 'bytes=0-70000' } });
    assert.equal(first.status, 206);
    assert.equal(first.headers.get('content-range'), `bytes 0-70000/${full.length}`);
    const rest = await fetch(`${base}/disk-0.qcow2`, {
      headers: { Range: 'bytes=70001-', 'If-Range': etag },
    });
    assert.equal(rest.status, 206);
    assert.equal(rest.headers.get('content-length'), String(full.length - 70001));
    const joined = Buffer.concat([
      Buffer.from(await first.arrayBuffer()),
      Buffer.from(await rest.arrayBuffer()),
    ]);
    assert.ok(joined.equals(full));
    const suffix = await fetch(`${base}/disk-0.qcow2`, { headers: { Range: 'bytes=-100' } });
    assert.equal(suffix.status, 206);
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(full.subarray(full.length - 100)));
  });

  test('raw ranges, 416, stale If-Range, If-None-Match, 405 and 404', async () => {
    const file = await readFile(raw);
    const mid = await fetch(`${base}/disk-0.img`, {
      headers: { Range: `bytes=${2 * MiB - 10}-${2 * MiB + 9}` },
    });
    assert.equal(mid.status, 206);
    assert.ok(Buffer.from(await mid.arrayBuffer()).equals(file.subarray(2 * MiB - 10, 2 * MiB + 10)));

    const beyond = await fetch(`${base}/disk-0.img`, { headers: { Range: `bytes=${file.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${file.length}`);
    await beyond.arrayBuffer();

    const stale = await fetch(`${base}/disk-0.img`, {
      headers: { Range: 'bytes=0-9', 'If-Range': '"other"' },
    });
    assert.equal(stale.status, 200, 'a changed validator sends the whole body');
    assert.equal((await stale.arrayBuffer()).byteLength, file.length);

    const etag = (await fetch(`${base}/disk-0.img`, { method: 'HEAD' })).headers.get('etag')!;
    const cached = await fetch(`${base}/disk-0.img`, { headers: { 'If-None-Match': etag } });
    assert.equal(cached.status, 304);

    const post = await fetch(`${base}/disk-0.img`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.arrayBuffer();

    const missing = await fetch(`${base}/missing.img`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });
});
