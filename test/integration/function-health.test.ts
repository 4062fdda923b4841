// The functions' liveness and readiness probes answer 200 while the event loop lags, as it does on
// a busy node: faas-js-runtime's default probes (overload-protection) answered 503 there, so the
// kubelet restarted healthy functions (liveness) and took them out of their Services (readiness).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import faas from 'faas-js-runtime';
import { HEALTH_CHECKS } from '../../functions/shared/health-checks.ts';

let server: Server;
let base: string;

before(async () => {
  // Served as functions/serve.ts serves every function.
  server = await faas.start(
    { handle: () => undefined, ...HEALTH_CHECKS },
    { port: 0, logLevel: 'silent' as never },
  );
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

/** Busy-waits `ms` on the event loop every `everyMs`, for `forMs`: a CPU-bound step under load. */
async function lagEventLoop(ms: number, everyMs: number, forMs: number): Promise<void> {
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    const until = Date.now() + ms;
    while (Date.now() < until);
    await new Promise((r) => setTimeout(r, everyMs - ms));
  }
}

test('liveness and readiness answer 200 while the event loop lags by 150 ms', async () => {
  const lag = lagEventLoop(150, 160, 3000);
  await new Promise((r) => setTimeout(r, 1500));
  const answers = await Promise.all(
    ['/health/liveness', '/health/readiness'].map(async (path) => {
      const res = await fetch(base + path);
      return `${path} ${res.status} ${await res.text()}`;
    }),
  );
  await lag;
  assert.deepEqual(answers, ['/health/liveness 200 OK', '/health/readiness 200 OK']);
});
