// `npm run cluster -- up` / `down` as a user runs them: kubectl works against .local/kubeconfig,
// the endpoints file has the contract's keys, and `down` leaves no process behind (checked in /proc).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

/** Pids of processes whose command line or environment mentions `marker`. */
async function processesMentioning(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const read = (f: string) => readFile(join('/proc', entry, f), 'latin1').catch(() => '');
    const [cmdline, environ] = await Promise.all([read('cmdline'), read('environ')]);
    if (cmdline.includes(marker) || environ.includes(marker)) pids.push(Number(entry));
  }
  return pids;
}

test('cluster up, kubectl against it, cluster down leaves no process', { timeout: 300_000 }, async () => {
  const stateDir = await mkdtemp(join(tmpdir(), 'vm-import-cli-'));
  const cli = (...args: string[]) =>
    execa('node', ['--import', 'tsx', 'local-cluster/cli.ts', ...args, '--state-dir', stateDir], {
      cwd: ROOT,
    });
  try {
    const started = Date.now();
    await cli('up');
    console.log(`# cluster up → ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const kubeconfig = join(stateDir, 'kubeconfig');
    const { stdout } = await execa('kubectl', [
      '--kubeconfig',
      kubeconfig,
      'get',
      'storageclass,network-attachment-definitions',
      '-A',
    ]);
    assert.match(stdout, /harvester-longhorn/);
    assert.match(stdout, /vlan1/);
    assert.match(stdout, /vlan2/);
    const endpoints = JSON.parse(await readFile(join(stateDir, 'endpoints.json'), 'utf8'));
    assert.equal(endpoints.kubeconfig, kubeconfig);
    assert.deepEqual(Object.keys(endpoints.vmware).slice(0, 4), [
      'url',
      'username',
      'password',
      'datacenter',
    ]);
    assert.ok(endpoints.openstack.url.endsWith('/v3'));
    assert.ok(endpoints.ova.baseUrl);
    assert.ok((await processesMentioning(stateDir)).length > 0, 'the cluster runs');
  } finally {
    await cli('down');
  }
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(await processesMentioning(stateDir), [], 'no process left after down');
  assert.ok(existsSync(join(stateDir, 'logs')), 'logs stay');
  await rm(stateDir, { recursive: true, force: true });
});
