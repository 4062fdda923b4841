// The per-import disk server against hostile clients: malformed paths, wrong tokens, clients that
// never finish their request or stop reading. The server must answer (or close) and stay up.
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDiskServer, resolveDiskRequest } from '../../functions/images/disk-server.ts';
import { tempDir, writeRawDisk } from './disk-helpers.ts';

const TOKEN = 'abcdefghijklmnopqrstuvwxyz012345';

/** Sends `raw` over a plain socket; resolves with what came back before the server closed. */
function rawRequest(port: number, raw: string, waitMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => (got += d.toString('latin1')));
    socket.on('error', () => resolve(got));
    socket.on('close', () => resolve(got));
    socket.write(raw);
    setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, waitMs);
  });
}

describe('disk server under hostile requests', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: Server;
  let port: number;

  before(async () => {
    ({ dir, cleanup } = await tempDir('disk-server-hostile-'));
    await writeRawDisk(join(dir, 'disk-0.raw'), 32 * 1024 * 1024, [{ offset: 0, length: 32 * 1024 * 1024 }]);
    server = createDiskServer({ scratchDir: dir, token: TOKEN, idleTimeoutMs: 300, headersTimeoutMs: 300 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await cleanup();
  });

  test('a malformed percent-encoding is answered 400 and the server keeps serving', async () => {
    assert.equal(resolveDiskRequest('/%E0%A4%A', { scratchDir: dir, token: TOKEN }), 'malformed');
    const bad = await fetch(`http://127.0.0.1:${port}/%E0%A4%A`);
    assert.equal(bad.status, 400);
    const good = await fetch(`http://127.0.0.1:${port}/${TOKEN}/disk-0.raw`, { method: 'HEAD' });
    assert.equal(good.status, 200);
  });

  test('wrong tokens of every length, encoded slashes and dot segments are 404', async () => {
    for (const path of [
      `/${TOKEN.slice(0, -1)}/disk-0.raw`,
      `/${TOKEN}x/disk-0.raw`,
      `/x/disk-0.raw`,
      `/${TOKEN}%2Fdisk-0.raw`,
      `/${TOKEN}/..%2Fdisk-0.raw`,
      `//disk-0.raw`,
    ]) {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'HEAD' });
      assert.equal(res.status, 404, path);
    }
  });

  test('a URL longer than the cap is answered 414', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/${'a'.repeat(5000)}`);
    assert.equal(res.status, 414);
  });

  test('a client that never finishes its request headers is disconnected', async () => {
    const started = Date.now();
    await rawRequest(port, `GET /${TOKEN}/disk-0.raw HTTP/1.1\r\nHost: x\r\n`, 10_000);
    assert.ok(Date.now() - started < 9_000, 'the server closed the half-sent request');
  });

  test('a client that stops reading the body is disconnected', async () => {
    const started = Date.now();
    // A paused client sees no close until it reads: watch the server's end of the connection.
    const serverSide = new Promise<boolean>((resolve) => {
      server.once('connection', (s) => s.once('close', () => resolve(true)));
      setTimeout(() => resolve(false), 10_000);
    });
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause(); // never reads: the server's writes back up
    socket.write(`GET /${TOKEN}/disk-0.raw HTTP/1.1\r\nHost: x\r\n\r\n`);
    const closed = await serverSide;
    socket.destroy();
    assert.ok(closed, 'the server closed the stalled download');
    assert.ok(Date.now() - started < 9_000);
  });
});
