// The simulated sources of the inventory: the raw disk content in .local/sources/, vcsim, the
// OpenStack simulator and an OVA server (HTTPS), each with a log under .local/logs/, and the
// endpoints.json block the contract fixes.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInventory } from '../../simulators/inventory.ts';
import { materializeSources } from '../../simulators/disk-content.ts';

export interface Endpoints {
  kubeconfig: string;
  /**
   * `url` is what a Source object names (pods reach it; its certificate carries it), `hostUrl`
   * what the host reaches. The simulators listen on the host's address on the pod network's
   * link, which both reach, so the two are the same address.
   */
  vmware?: {
    url: string;
    hostUrl: string;
    username: string;
    password: string;
    datacenter: string;
    caCert: string;
  };
  openstack?: {
    url: string;
    hostUrl: string;
    region: string;
    username: string;
    password: string;
    project_name: string;
    domain_name: string;
    ca_cert?: string;
  };
  ova?: { baseUrl: string; hostUrl: string; caCert?: string };
}

export interface SimulatedSources {
  endpoints: Omit<Endpoints, 'kubeconfig'>;
  /** Simulators that are not available in this checkout (their module is missing). */
  missing: string[];
  stop(): Promise<void>;
}

const SIMULATORS = fileURLToPath(new URL('../../simulators/', import.meta.url));

export async function startSimulatedSources(opts: {
  stateDir: string;
  /** Where the simulators listen: an address pods and the host both reach. */
  host: string;
  inventoryFile?: string;
  log(component: string, message: string, fields?: Record<string, unknown>): void;
}): Promise<SimulatedSources> {
  const inventory = await loadInventory(opts.inventoryFile);
  await materializeSources(inventory, join(opts.stateDir, 'sources'));
  const endpoints: SimulatedSources['endpoints'] = {};
  const stops: (() => Promise<void>)[] = [];
  const missing: string[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    if (inventory.vmware && existsSync(join(SIMULATORS, 'vcsim', 'index.ts'))) {
      const { startVcsim } = await import('../../simulators/vcsim/index.ts');
      const vc = await startVcsim({
        inventory,
        workDir: join(opts.stateDir, 'vcsim'),
        logFile: join(opts.stateDir, 'logs', 'vcsim.log'),
        host: opts.host,
      });
      stops.push(() => vc.stop());
      endpoints.vmware = {
        url: vc.url,
        username: vc.username,
        password: vc.password,
        datacenter: vc.datacenter,
        caCert: vc.caCertPem,
        hostUrl: vc.url,
      };
    } else if (inventory.vmware) missing.push('vcsim');

    if (inventory.openstack && existsSync(join(SIMULATORS, 'openstack', 'index.ts'))) {
      const { startOpenstackSimulator } = await import('../../simulators/openstack/index.ts');
      const os = await startOpenstackSimulator({
        inventory,
        workDir: join(opts.stateDir, 'openstack'),
        tls: true,
        host: opts.host,
      });
      stops.push(() => os.stop());
      endpoints.openstack = {
        url: os.url,
        region: os.region,
        username: os.username,
        password: os.password,
        project_name: os.projectName,
        domain_name: os.domainName,
        ...(os.caCertPem ? { ca_cert: os.caCertPem } : {}),
        hostUrl: os.url,
      };
    } else if (inventory.openstack) missing.push('openstack');

    if (inventory.ova?.length && existsSync(join(SIMULATORS, 'ova', 'server.ts'))) {
      const { buildInventoryOva } = await import('../../simulators/ova/build-ova.ts');
      const { startOvaServer } = await import('../../simulators/ova/server.ts');
      const dir = join(opts.stateDir, 'ova');
      await mkdir(dir, { recursive: true });
      for (const ova of inventory.ova) {
        const out = join(dir, ova.name);
        if (!existsSync(out)) await buildInventoryOva(ova, out);
      }
      const server = await startOvaServer({
        dir,
        tls: true,
        pkiDir: join(opts.stateDir, 'ova-pki'),
        host: opts.host,
      });
      stops.push(() => server.stop());
      endpoints.ova = {
        baseUrl: server.baseUrl,
        ...(server.caCertPem ? { caCert: server.caCertPem } : {}),
        hostUrl: server.baseUrl,
      };
    } else if (inventory.ova?.length) missing.push('ova');
  } catch (err) {
    await stop();
    throw err;
  }
  if (missing.length) opts.log('sources', 'simulators not available', { missing });
  return { endpoints, missing, stop };
}
