// `npm start`: boots the local cluster with the default inventory, applies the example sources and
// imports from config/examples, shows each import's progress until it is done, then explains how
// to use kubectl against the cluster and keeps running until Ctrl-C.
import {
  API_VERSION,
  isTerminalImport,
  type VirtualMachineImportStatus,
} from '../functions/shared/api/index.ts';
import { startLocalCluster } from './cluster.ts';
import { renderExample } from './examples.ts';
import { renderProgress, type ImportRow } from './progress-view.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

say('Starting the local cluster (API server, eventing, functions, vcsim, OpenStack and OVA simulators)...');
const started = Date.now();
const cluster = await startLocalCluster();
say(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s. API server: ${cluster.apiServerUrl}`);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  say('\nStopping the local cluster (logs stay in .local/logs)...');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);

await cluster.kubectl(['apply', '-f', '-'], await renderExample('sources.yaml', cluster.endpoints));
const applied = await cluster.kubectl(
  ['apply', '-f', '-'],
  await renderExample('imports.yaml', cluster.endpoints),
);
say(applied.trim());

const names = [...applied.matchAll(/virtualmachineimport\.migration\.harvesterhci\.io\/(\S+)/g)].map(
  (m) => m[1]!,
);
const interactive = process.stdout.isTTY;
let previous = '';
while (!stopping) {
  const rows: ImportRow[] = [];
  for (const name of names) {
    const obj = await cluster.kube
      .find(API_VERSION, 'VirtualMachineImport', 'default', name)
      .catch(() => undefined);
    rows.push({ name, status: obj?.status as VirtualMachineImportStatus | undefined });
  }
  const text = renderProgress(rows).join('\n');
  if (text !== previous) {
    if (interactive && previous) process.stdout.write(`\x1b[${previous.split('\n').length}A\x1b[J`);
    say(text);
    previous = text;
  }
  if (rows.every((r) => isTerminalImport(r.status))) break;
  await new Promise((r) => setTimeout(r, 1000));
}

say(`
All imports finished in ${((Date.now() - started) / 1000).toFixed(0)} s. The cluster keeps running; in another terminal:

  export KUBECONFIG=${cluster.kubeconfigPath}
  kubectl get vmwaresource.migration,openstacksource.migration,ovasource.migration
  kubectl get virtualmachineimport.migration
  kubectl describe virtualmachineimport.migration alpine-export-test
  kubectl get virtualmachines.kubevirt.io,virtualmachineimages.harvesterhci.io
  ls .local/harvester/images/default/   # imported disks, compare with .local/sources/

Function logs are in .local/logs/. Press Ctrl-C to stop.`);
