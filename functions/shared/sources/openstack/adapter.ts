// The OpenStack source: Keystone v3 sessions, Nova servers, Cinder volumes and Glance images;
// disks are exported by uploading each volume (or the image-booted root disk) to Glance and
// downloading the image.
import type { OpenstackSourceSpec } from '../../api/index.ts';
import type { Logger } from '../../log.ts';
import { numberSetting } from '../../settings.ts';
import type { SourceAdapter, SourceTarget } from '../adapter.ts';
import { scratchSizeForDisks } from '../scratch-size.ts';
import { requiredCredentials, specOf } from '../source-target.ts';
import { OpenstackClient, type LogFn } from './client.ts';
import { connectionFromSpec } from './connection.ts';
import { describeOpenstackServer } from './describe.ts';
import { ServerExport } from './export.ts';
import { powerOffServer, startServer } from './power.ts';
import { openstackSettings } from './settings.ts';
import { preflightOpenstackServer, verifyOpenstackSource } from './verify.ts';

const connectionOf = (t: Omit<SourceTarget, 'vmImport'>) => {
  const credentials = requiredCredentials(t);
  return connectionFromSpec(specOf<OpenstackSourceSpec>(t), credentials.data, credentials.name);
};

/** The client's log lines into the function's or Job's structured log. */
const logInto =
  (log: Logger): LogFn =>
  ({ level, msg, ...rest }) =>
    log.child({ source: 'openstack' })[level](msg, rest);

const connect = (t: SourceTarget, log?: Logger) =>
  OpenstackClient.connect(connectionOf(t), log ? { log: logInto(log) } : {});

const serverOf = (t: SourceTarget) => t.vmImport.spec.virtualMachineName ?? '';

export const adapter: SourceAdapter = {
  label: 'OpenStack',
  hasPower: true,
  settings: openstackSettings,

  async verify(t) {
    await verifyOpenstackSource(connectionOf(t));
  },

  async preflight(t) {
    const { warnings } = await preflightOpenstackServer(await connect(t), {
      virtualMachineName: serverOf(t),
      networkMapping: t.vmImport.spec.networkMapping,
      forcePowerOff: t.vmImport.spec.forcePowerOff,
    });
    return { warnings };
  },

  async resolveVmName(t) {
    return (await (await connect(t)).findServer(serverOf(t))).name;
  },

  async describe(t) {
    return describeOpenstackServer(await connect(t), serverOf(t));
  },

  async scratchSize(t, sizing) {
    return scratchSizeForDisks((await describeOpenstackServer(await connect(t), serverOf(t))).disks, sizing);
  },

  async powerOff(t, deps) {
    if (deps.conditions.VMPoweredOff) return;
    const timeoutMs = numberSetting('OPENSTACK_STOP_TIMEOUT_SECONDS', deps.env, 1) * 1000;
    await powerOffServer(await connect(t, deps.log), serverOf(t), deps, timeoutMs);
  },

  async powerOn(t, deps) {
    return startServer(await connect(t, deps.log), serverOf(t));
  },

  async exportDisks(t, opts) {
    const spec = specOf<OpenstackSourceSpec>(t);
    const disks = await new ServerExport(await connect(t), {
      uploadImageRetryCount: spec.uploadImageRetryCount,
      uploadImageRetryDelay: spec.uploadImageRetryDelay,
    }).run(serverOf(t), opts);
    return { disks, warnings: [] };
  },

  // Each operation connects its own client; nothing is kept between calls.
  close: async () => undefined,
};
