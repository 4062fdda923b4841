// The build trims what client-node loads at start (build.ts: its unused modules dropped, its proxy
// agents loaded on first use): a client bundled that way still makes each kind of proxy agent the
// kubeconfig's proxy-url asks for, and still talks to an API server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { bundle, PROJECT_ROOT } from '../../build.ts';

const ENTRY = `
import { KubeConfig } from '@kubernetes/client-node';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { HttpProxyAgent, HttpsProxyAgent } from 'hpagent';
const REAL = { SocksProxyAgent, HttpsProxyAgent, HttpProxyAgent };
const agentFor = (server, proxyUrl) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, proxyUrl, skipTLSVerify: false }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc.createAgent(kc.getCurrentCluster(), {});
};
const agents = {
  socks: agentFor('https://10.0.0.1:6443', 'socks5://127.0.0.1:1080'),
  https: agentFor('https://10.0.0.1:6443', 'http://127.0.0.1:3128'),
  http: agentFor('http://10.0.0.1:6443', 'http://127.0.0.1:3128'),
};
console.log(JSON.stringify(Object.fromEntries(Object.entries(agents).map(([k, a]) => [k, {
  real: Object.entries(REAL).find(([, C]) => a instanceof C)?.[0],
  proxy: String(a.proxy?.href ?? a.proxy?.host ?? ''),
}]))));
`;

test('client-node bundled as the image bundles it still makes every proxy agent', async () => {
  const dir = await mkdtemp(join(PROJECT_ROOT, 'test', '.build-client-node-'));
  try {
    await writeFile(join(dir, 'entry.mjs'), ENTRY);
    await bundle([join(dir, 'entry.mjs')], join(dir, 'out'));
    const r = await execa(process.execPath, [join(dir, 'out', relative(PROJECT_ROOT, dir), 'entry.mjs')]);
    const agents = JSON.parse(r.stdout) as Record<string, { real?: string; proxy: string }>;
    assert.equal(agents.socks!.real, 'SocksProxyAgent');
    assert.match(agents.socks!.proxy, /127\.0\.0\.1/);
    assert.equal(agents.https!.real, 'HttpsProxyAgent');
    assert.match(agents.https!.proxy, /127\.0\.0\.1:3128/);
    assert.equal(agents.http!.real, 'HttpProxyAgent');
    assert.match(agents.http!.proxy, /127\.0\.0\.1:3128/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
