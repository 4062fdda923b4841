// Verification and transport of the OVA source against real HTTP(S) servers: custom CA, wrong CA,
// basic auth, servers refusing HEAD, unreachable endpoints and timeouts.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensurePki } from '../../local-cluster/pki.ts';
import { exportOva } from '../../functions/shared/sources/ova/export.ts';
import { verifyOvaSource } from '../../functions/shared/sources/ova/verify.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';
import { buildOva } from '../../local-cluster/simulators/ova/build-ova.ts';
import { startOvaServer, type OvaServer } from '../../local-cluster/simulators/ova/server.ts';

const PASSWORD = 'pa55-w0rd-never-logged';

let root: string;
let serveDir: string;
let https: OvaServer;
let plain: OvaServer;
let headRefusing: OvaServer;
let otherCaPem: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ova-verify-test-'));
  serveDir = join(root, 'serve');
  await buildOva({
    name: 'small.ova',
    vm: {
      cpus: 1,
      memoryMiB: 128,
      firmware: 'bios',
      disks: [{ sizeMiB: 3, controller: 'lsilogic', allocatedPercent: 34, seed: 5 }],
      nics: [{ network: 'VM Network', type: 'e1000' }],
    },
    outPath: join(serveDir, 'small.ova'),
  });
  [https, plain, headRefusing, otherCaPem] = await Promise.all([
    startOvaServer({
      dir: serveDir,
      tls: true,
      pkiDir: join(root, 'pki'),
      basicAuth: { username: 'ova', password: PASSWORD },
    }),
    startOvaServer({ dir: serveDir }),
    startOvaServer({ dir: serveDir, refuseHead: true }),
    ensurePki(join(root, 'other-pki'), ['localhost', '127.0.0.1']).then((p) => p.caCertPem),
  ]);
});

after(async () => {
  await Promise.all([https?.stop(), plain?.stop(), headRefusing?.stop()]);
  await rm(root, { recursive: true, force: true });
});

async function verifyError(promise: Promise<unknown>): Promise<SourceError> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof SourceError, `expected a SourceError, got ${String(e)}`);
    assert.doesNotMatch(e.message, new RegExp(PASSWORD));
    assert.doesNotMatch(JSON.stringify(e, Object.getOwnPropertyNames(e)), new RegExp(PASSWORD));
    if (e.cause) assert.doesNotMatch(String((e.cause as Error).stack), new RegExp(PASSWORD));
    return e;
  }
  assert.fail('expected the call to fail');
}

describe('OVA source over HTTPS with a custom CA and basic auth', () => {
  const url = () => `${https.baseUrl}/small.ova`;
  const secret = () => ({ username: 'ova', password: PASSWORD, 'ca.crt': https.caCertPem! });

  it('verifies and exports with the CA from ca.crt', async () => {
    const v = await verifyOvaSource({ url: url() }, secret());
    assert.equal(v.method, 'HEAD');
    assert.equal(v.acceptsRanges, true);
    assert.ok((v.sizeBytes ?? 0) > 0);
    const scratchDir = join(root, 'scratch-https');
    const result = await exportOva({ url: url() }, secret(), { scratchDir });
    assert.equal(result.disks.length, 1);
    assert.equal(result.disks[0]?.bus, 'scsi');
    assert.equal(result.disks[0]?.allocatedBytes, 2 ** 20);
  });

  it('fails clearly with a wrong CA, and with only the system CAs', async () => {
    const wrong = await verifyError(verifyOvaSource({ url: url() }, { ...secret(), 'ca.crt': otherCaPem }));
    assert.equal(wrong.reason, 'TlsVerificationFailed');
    assert.match(
      wrong.message,
      /TLS verification failed \(.+\): the server certificate is not signed by the CA in the Secret key "ca.crt"/,
    );
    const scratchDir = join(root, 'scratch-wrong-ca');
    const exportWrong = await verifyError(
      exportOva({ url: url() }, { ...secret(), 'ca.crt': otherCaPem }, { scratchDir }),
    );
    assert.equal(exportWrong.reason, 'TlsVerificationFailed');
    assert.deepEqual(await readdir(scratchDir), []);
    const system = await verifyError(
      verifyOvaSource({ url: url() }, { username: 'ova', password: PASSWORD }),
    );
    assert.equal(system.reason, 'TlsVerificationFailed');
    assert.match(system.message, /not trusted by the system CAs; put its CA into the Secret key "ca.crt"/);
  });

  it('skips verification only when insecureSkipVerify is "true"', async () => {
    const v = await verifyOvaSource(
      { url: url() },
      { username: 'ova', password: PASSWORD, insecureSkipVerify: 'true' },
    );
    assert.equal(v.method, 'HEAD');
  });

  it('reports rejected or missing credentials as Unauthorized without echoing them', async () => {
    const bad = await verifyError(verifyOvaSource({ url: url() }, { ...secret(), password: `${PASSWORD}x` }));
    assert.equal(bad.reason, 'Unauthorized');
    assert.match(bad.message, /returned HTTP 401 .*rejected the username and password/);
    const none = await verifyError(verifyOvaSource({ url: url() }, { 'ca.crt': https.caCertPem! }));
    assert.equal(none.reason, 'Unauthorized');
    assert.match(none.message, /needs credentials/);
    // Credentials embedded in the URL are used, and never shown.
    const embedded = new URL(url());
    embedded.username = 'ova';
    embedded.password = `${PASSWORD}x`;
    const inUrl = await verifyError(verifyOvaSource({ url: embedded.href }, { 'ca.crt': https.caCertPem! }));
    assert.equal(inUrl.reason, 'Unauthorized');
    assert.doesNotMatch(inUrl.message, /ova@/);
  });

  it('reports a missing file as NotFound', async () => {
    const e = await verifyError(verifyOvaSource({ url: `${https.baseUrl}/missing.ova` }, secret()));
    assert.equal(e.reason, 'NotFound');
  });
});

describe('OVA source against other servers', () => {
  it('falls back to a one-byte ranged GET when the server refuses HEAD', async () => {
    const v = await verifyOvaSource({ url: `${headRefusing.baseUrl}/small.ova` });
    assert.equal(v.method, 'GET');
    assert.equal(v.acceptsRanges, true);
    assert.ok((v.sizeBytes ?? 0) > 0);
    assert.deepEqual(
      headRefusing.requests.map((r) => [r.method, r.range, r.status]),
      [
        ['HEAD', undefined, 405],
        ['GET', 'bytes=0-0', 206],
      ],
    );
    const missing = await verifyError(verifyOvaSource({ url: `${headRefusing.baseUrl}/missing.ova` }));
    assert.equal(missing.reason, 'NotFound');
  });

  it('rejects non-http schemes before any request', async () => {
    const e = await verifyError(verifyOvaSource({ url: 'ftp://127.0.0.1/small.ova' }));
    assert.equal(e.reason, 'UnsupportedUrlScheme');
  });

  it('reports a closed port as EndpointUnreachable (retryable)', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const e = await verifyError(verifyOvaSource({ url: `http://127.0.0.1:${port}/small.ova` }));
    assert.equal(e.reason, 'EndpointUnreachable');
    assert.equal(e.retryable, true);
  });

  it('reports https to a plain-http port as a TLS handshake failure', async () => {
    const e = await verifyError(
      verifyOvaSource({ url: plain.baseUrl.replace('http:', 'https:') + '/small.ova' }),
    );
    assert.equal(e.reason, 'TlsHandshakeFailed');
  });

  it('gives up after httpTimeoutSeconds on a server that never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const started = Date.now();
      const e = await verifyError(
        verifyOvaSource({ url: `http://127.0.0.1:${port}/small.ova`, httpTimeoutSeconds: 1 }),
      );
      assert.equal(e.reason, 'Timeout');
      assert.match(e.message, /spec.httpTimeoutSeconds \(1 s\)/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
