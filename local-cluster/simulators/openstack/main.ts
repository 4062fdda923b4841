// CLI for the local cluster: starts the OpenStack simulator and prints one JSON "ready" line.
//   node --import tsx local-cluster/simulators/openstack/main.ts --work-dir .local/openstack \
//     [--inventory FILE] [--port N] [--pki-dir DIR] [--plain-http]
import { parseArgs } from 'node:util';
import { startOpenstackSimulator } from './index.ts';

const { values } = parseArgs({
  options: {
    'work-dir': { type: 'string', default: '.local/openstack' },
    inventory: { type: 'string' },
    port: { type: 'string' },
    'pki-dir': { type: 'string' },
    'plain-http': { type: 'boolean', default: false },
  },
});

const sim = await startOpenstackSimulator({
  workDir: values['work-dir'],
  ...(values.inventory ? { inventoryFile: values.inventory } : {}),
  ...(values.port ? { port: Number(values.port) } : {}),
  ...(values['pki-dir'] ? { pkiDir: values['pki-dir'] } : {}),
  tls: !values['plain-http'],
});

process.stdout.write(
  `${JSON.stringify({
    ready: true,
    openstack: {
      url: sim.url,
      region: sim.region,
      username: sim.username,
      password: sim.password,
      project_name: sim.projectName,
      domain_name: sim.domainName,
      ...(sim.caCertPem ? { ca_cert: sim.caCertPem } : {}),
    },
  })}\n`,
);

const stop = (): void => {
  void sim.stop().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
