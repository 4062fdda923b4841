// What an import left behind once it ended: in the cluster (Jobs, pods, disk servers, scratch
// volumes, images no VM uses, credentials copies), on the node (processes, scratch directories) and
// on the source (open NFC leases; OpenStack snapshots, volumes and images it did not have before).
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { join } from 'node:path';
import axios from 'axios';
import { LABEL_IMPORT_NAME } from '../../functions/shared/labels.ts';
import type { LocalCluster } from '../../local-cluster/cluster.ts';
import type { ChaosTarget } from './fault.ts';

/** The source-side objects that exist before a row starts (OpenStack ids), to tell new ones. */
export interface SourceBaseline {
  openstack: Set<string>;
}

interface OpenstackSimState {
  volumes: { id: string; name: string; status: string }[];
  snapshots: { id: string; name: string; status: string }[];
  images: { id: string; name: string; status: string }[];
}

/** GET of a simulator's control endpoint, verified against the CA the simulator's endpoint names. */
const simulatorGet = async <T>(url: string, ca: string | undefined): Promise<T> =>
  (
    await axios.get<T>(url, {
      httpsAgent: new Agent({ ...(ca ? { ca } : {}) }),
      proxy: false,
      timeout: 10_000,
    })
  ).data;

async function openstackObjects(cluster: LocalCluster): Promise<OpenstackSimState | undefined> {
  const os = cluster.endpoints.openstack;
  if (!os) return undefined;
  return simulatorGet<OpenstackSimState>(new URL('/_sim/state', os.hostUrl).toString(), os.ca_cert);
}

export async function sourceBaseline(cluster: LocalCluster): Promise<SourceBaseline> {
  const state = await openstackObjects(cluster);
  const ids = [...(state?.volumes ?? []), ...(state?.snapshots ?? []), ...(state?.images ?? [])].map(
    (o) => o.id,
  );
  return { openstack: new Set(ids) };
}

/** Names of labelled objects of kind `kinds` (kubectl's resource names) of the import. */
async function labelled(cluster: LocalCluster, t: ChaosTarget, kinds: string): Promise<string[]> {
  const out = await cluster.kubectl([
    'get',
    kinds,
    '-n',
    t.namespace,
    '-l',
    `${LABEL_IMPORT_NAME}=${t.name}`,
    '-o',
    'name',
  ]);
  return out.split('\n').filter(Boolean);
}

/** Processes on this machine whose environment names the import's uid (the export Job's and disk server's). */
async function processesOf(importUid: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const environ = await readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
    if (environ.includes(importUid)) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      found.push(`process ${pid} (${cmd.split('\0').join(' ').trim().slice(0, 60)})`);
    }
  }
  return found;
}

export interface LeftoverCheck {
  target: ChaosTarget;
  importUid: string;
  /** The images and PVCs the imported VM uses, which stay (virtualMachineRunning). */
  kept: { images: string[]; pvcs: string[] };
  baseline: SourceBaseline;
}

/** Everything of the import still there that should not be; empty when clean. */
export async function leftovers(cluster: LocalCluster, c: LeftoverCheck): Promise<string[]> {
  const { target: t } = c;
  const found: string[] = [];
  found.push(...(await labelled(cluster, t, 'jobs,deployments,services,pods,secrets,configmaps')));
  for (const pvc of await labelled(cluster, t, 'persistentvolumeclaims'))
    if (!c.kept.pvcs.includes(pvc.replace(/^[^/]+\//, ''))) found.push(pvc);
  for (const image of await labelled(cluster, t, 'virtualmachineimages.harvesterhci.io'))
    if (!c.kept.images.includes(image.replace(/^[^/]+\//, ''))) found.push(image);

  const volumes = join(cluster.stateDir, 'volumes', t.namespace);
  if (existsSync(volumes))
    for (const dir of await readdir(volumes))
      if (dir.includes(t.name) && !c.kept.pvcs.includes(dir)) found.push(`scratch directory ${dir}`);
  found.push(...(await processesOf(c.importUid)));

  if (t.source === 'vmware' && cluster.endpoints.vmware) {
    const vc = cluster.endpoints.vmware;
    const { leases } = await simulatorGet<{ leases: { lease: string; vm: string; state: string }[] }>(
      new URL('/_sim/leases', vc.hostUrl).toString(),
      vc.caCert,
    );
    for (const l of leases)
      if (l.vm === t.vmName && (l.state === 'initializing' || l.state === 'ready'))
        found.push(`NFC lease ${l.lease} (${l.state}) on ${t.vmName}`);
  }
  if (t.source === 'openstack') {
    const state = await openstackObjects(cluster);
    for (const [kind, list] of Object.entries({
      volume: state?.volumes ?? [],
      snapshot: state?.snapshots ?? [],
      image: state?.images ?? [],
    }))
      for (const o of list)
        if (!c.baseline.openstack.has(o.id) && o.status !== 'deleted')
          found.push(`OpenStack ${kind} ${o.name || o.id} (${o.status})`);
  }
  return found;
}
