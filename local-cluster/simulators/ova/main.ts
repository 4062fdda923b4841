// CLI for the local cluster: builds the inventory's OVAs (only those whose spec changed), serves
// them and prints one JSON "ready" line.
//   node --import tsx local-cluster/simulators/ova/main.ts [--inventory FILE] [--dir .local/ova]
//     [--sources-root .local/sources] [--port N] [--pki-dir DIR] [--plain-http]
//     [--username U --password P] [--refuse-head]
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadInventory, type InventoryOva } from '../inventory.ts';
import { buildInventoryOva } from './build-ova.ts';
import { startOvaServer } from './server.ts';

const { values } = parseArgs({
  options: {
    inventory: { type: 'string' },
    dir: { type: 'string', default: '.local/ova' },
    'sources-root': { type: 'string', default: '.local/sources' },
    port: { type: 'string' },
    'pki-dir': { type: 'string' },
    'plain-http': { type: 'boolean', default: false },
    username: { type: 'string' },
    password: { type: 'string' },
    'refuse-head': { type: 'boolean', default: false },
  },
});

/** Rebuilds an OVA only when its inventory entry changed since the last build. */
async function ensureOva(ova: InventoryOva, dir: string, sourcesRoot: string): Promise<string> {
  const outPath = join(dir, ova.name);
  // A dot name: the server never serves it.
  const stampPath = join(dir, `.${ova.name}.inventory.json`);
  const wanted = JSON.stringify(ova);
  const current = await readFile(stampPath, 'utf8').catch(() => '');
  const exists = await readFile(outPath, { flag: 'r' }).then(
    () => true,
    () => false,
  );
  if (current !== wanted || !exists) {
    await buildInventoryOva(ova, outPath, sourcesRoot);
    await writeFile(stampPath, wanted);
  }
  return ova.name;
}

const inventory = await loadInventory(values.inventory);
const files: string[] = [];
for (const ova of inventory.ova ?? []) files.push(await ensureOva(ova, values.dir, values['sources-root']));

const server = await startOvaServer({
  dir: values.dir,
  tls: !values['plain-http'],
  refuseHead: values['refuse-head'],
  ...(values.port ? { port: Number(values.port) } : {}),
  ...(values['pki-dir'] ? { pkiDir: values['pki-dir'] } : {}),
  ...(values.username && values.password
    ? { basicAuth: { username: values.username, password: values.password } }
    : {}),
});

process.stdout.write(
  `${JSON.stringify({
    ready: true,
    ova: {
      baseUrl: server.baseUrl,
      files,
      ...(server.caCertPem ? { 'ca.crt': server.caCertPem } : {}),
    },
  })}\n`,
);

const stop = (): void => {
  void server.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
