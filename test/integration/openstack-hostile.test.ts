// OpenStack answers and specs as an attacker would make them (issue 22 rows 9 and 13): oversized
// JSON is refused without being held in memory; credentials written into spec.endpoint never
// appear in a message.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connectionFromSpec } from '../../functions/shared/sources/openstack/connection.ts';
import { OpenstackSession } from '../../functions/shared/sources/openstack/session.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

const SECRET = { username: 'admin', password: 'pw', project_name: 'p', domain_name: 'Default' };

describe('OpenStack client against hostile answers and specs', () => {
  let server: Server;
  let base: string;
  let sentBytes = 0;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/huge/')) {
        // 200 MiB of JSON, generated as it is sent (no Content-Length).
        res.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': 't' });
        const chunk = Buffer.alloc(1024 * 1024, 0x61);
        let left = 200;
        res.write('{"token":{"catalog":[],"x":"');
        const more = () => {
          while (left > 0) {
            left--;
            sentBytes += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end('"}}');
        };
        res.on('close', () => (left = 0));
        more();
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":{"message":"not here"}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('row 9: a 200 MiB Keystone answer is refused as too large, without reading it all', async () => {
    const session = new OpenstackSession(
      connectionFromSpec({ endpoint: `${base}/huge/v3`, region: 'RegionOne' }, SECRET),
      { retries: 0 },
    );
    const rssBefore = process.memoryUsage().rss;
    await assert.rejects(session.authenticate(), (e: unknown) => {
      assert.ok(e instanceof SourceError, String(e));
      assert.equal(e.reason, 'ResponseTooLarge', e.message);
      assert.match(e.message, /larger than the \d+ bytes accepted/);
      return true;
    });
    const grewMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grewMiB < 120, `RSS grew by ${grewMiB.toFixed(0)} MiB`);
    assert.ok(sentBytes < 100 * 2 ** 20, `the server sent ${sentBytes} bytes before the client hung up`);
  });

  test('row 13: credentials inside spec.endpoint are refused and never echoed', async () => {
    for (const endpoint of [
      `${base.replace('//', '//admin:s3cr3t@')}/v3`,
      'https://admin:s3cr3t@keystone.example.com:5000/v3',
      'https://admin:s3cr3t@ bad host/v3',
    ]) {
      let message = '';
      try {
        const session = new OpenstackSession(connectionFromSpec({ endpoint, region: 'RegionOne' }, SECRET), {
          retries: 0,
        });
        await session.authenticate();
      } catch (e) {
        message = (e as Error).message;
      }
      assert.ok(message !== '', `${endpoint} fails`);
      assert.ok(!message.includes('s3cr3t'), `the password appears in: ${message}`);
      assert.ok(!message.includes('admin:'), `the user info appears in: ${message}`);
    }
  });
});
