// The vSphere tasks of a VM as the vSphere Client's "Recent Tasks" shows them: the VM's
// `recentTask` property (ManagedEntity.recentTask: its tasks, vCenter keeps up to 200) and each
// Task's info. For tests that check what an import left behind in the source's task list.
import {
  findVm,
  retrieveObjectProperties,
  retrieveProperties,
} from '../../functions/shared/sources/vmware/inventory.ts';
import { withVimSession } from '../../functions/shared/sources/vmware/session.ts';
import {
  arrayItems,
  child,
  text,
  toMoRef,
  xsiType,
} from '../../functions/shared/sources/vmware/soap-values.ts';
import type { VmwareEndpoint } from './source-power.ts';

export interface VmwareTask {
  /** e.g. VirtualMachine.powerOff */
  descriptionId: string;
  /** queued | running | success | error */
  state: string;
  /** the fault's type when the task failed, e.g. InvalidPowerState */
  fault?: string;
  /** the fault's message when the task failed */
  message?: string;
}

/** The tasks vCenter recorded on the VM, oldest first. */
export async function vmwareTasksOf(
  vc: VmwareEndpoint,
  name: string,
  folder?: string,
): Promise<VmwareTask[]> {
  const caCertPem = vc.caCertPem ?? vc.caCert;
  const conn = {
    endpoint: vc.url,
    username: vc.username,
    password: vc.password,
    ...(caCertPem ? { caCertPem } : {}),
    insecureSkipVerify: false,
  };
  return withVimSession(conn, async (s) => {
    const vm = await findVm(s, vc.datacenter, { name, ...(folder ? { folder } : {}) });
    const recent = await retrieveObjectProperties(s, vm, ['recentTask']);
    const tasks = arrayItems(recent.get('recentTask')).flatMap((t) => {
      const ref = toMoRef(t);
      return ref ? [ref] : [];
    });
    const infos = await retrieveProperties(s, tasks, ['info.descriptionId', 'info.state', 'info.error']);
    return tasks.map((t) => {
      const info = infos.get(t.value);
      const error = info?.get('info.error');
      const fault = xsiType(child(error, 'fault'));
      const message = text(child(error, 'localizedMessage'));
      return {
        descriptionId: text(info?.get('info.descriptionId')) ?? '',
        state: text(info?.get('info.state')) ?? '',
        ...(fault ? { fault } : {}),
        ...(message ? { message } : {}),
      };
    });
  });
}
