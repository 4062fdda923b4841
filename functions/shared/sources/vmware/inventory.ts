// Finding things in the vCenter inventory: datacenters and VMs by inventory path
// (SearchIndex.FindByInventoryPath), properties through the PropertyCollector, and the names of
// the datacenter's networks (standard portgroups and distributed portgroups).
import { SourceError } from '../source-error.ts';
import { asArray, arrayItems, child, moRefArg, text, toMoRef, type MoRef } from './soap-values.ts';
import { vimCall, type VimSession } from './session.ts';

/** "DC0", "/DC0" or "/Folder/DC0" → "Folder/DC0" (upstream adds the leading "/"). */
export function datacenterPath(dc: string | null | undefined): string {
  return (dc ?? '')
    .split('/')
    .filter((s) => s !== '')
    .join('/');
}

/** Inventory path names escape "%" and "/" (vSphere stores "/" in names as %2f). */
function escapeName(name: string): string {
  return name.replace(/%/g, '%25').replace(/\//g, '%2f');
}

/** `<dc>/vm/<folder a/b>/<name>`; empty folder segments collapse like upstream's filepath.Join. */
export function vmInventoryPath(dc: string, folder: string | null | undefined, name: string): string {
  const folders = (folder ?? '').split('/').filter((s) => s !== '');
  return [datacenterPath(dc), 'vm', ...folders.map(escapeName), escapeName(name)].join('/');
}

export async function findByInventoryPath(s: VimSession, path: string): Promise<MoRef | undefined> {
  const found = await vimCall(s, 'FindByInventoryPath', {
    _this: moRefArg(s.content.searchIndex),
    inventoryPath: path,
  });
  return toMoRef(found);
}

export async function findDatacenter(s: VimSession, dc: string | null | undefined): Promise<MoRef> {
  const path = datacenterPath(dc);
  const ref = path ? await findByInventoryPath(s, path) : undefined;
  if (!ref || ref.type !== 'Datacenter')
    throw new SourceError(
      'DatacenterNotFound',
      `datacenter "${dc ?? ''}" not found at ${s.conn.endpoint} (spec.dc must be the datacenter name or its inventory path)`,
    );
  return ref;
}

export interface VmLocation {
  name: string;
  folder?: string | null;
}

export async function findVm(s: VimSession, dc: string, vm: VmLocation): Promise<MoRef> {
  const path = vmInventoryPath(dc, vm.folder, vm.name);
  const ref = await findByInventoryPath(s, path);
  if (!ref || ref.type !== 'VirtualMachine')
    throw new SourceError(
      'VirtualMachineNotFound',
      `failed to find VM: no virtual machine "${vm.name}" at inventory path /${path} (check spec.virtualMachineName and spec.folder)`,
    );
  return ref;
}

/** Property values of several objects: objects[moref value][property path]. */
export async function retrieveProperties(
  s: VimSession,
  objects: MoRef[],
  pathSet: string[],
): Promise<Map<string, Map<string, unknown>>> {
  const out = new Map<string, Map<string, unknown>>();
  if (objects.length === 0) return out;
  const types = [...new Set(objects.map((o) => o.type))];
  let result = await vimCall(s, 'RetrievePropertiesEx', {
    _this: moRefArg(s.content.propertyCollector),
    specSet: [
      {
        propSet: types.map((type) => ({ type, pathSet })),
        objectSet: objects.map((obj) => ({ obj: moRefArg(obj) })),
      },
    ],
    options: {},
  });
  for (;;) {
    for (const content of asArray(child(result, 'objects'))) {
      const ref = toMoRef(child(content, 'obj'));
      if (!ref) continue;
      const props = out.get(ref.value) ?? new Map<string, unknown>();
      for (const prop of asArray(child(content, 'propSet'))) {
        const name = text(child(prop, 'name'));
        if (name) props.set(name, child(prop, 'val'));
      }
      out.set(ref.value, props);
    }
    const token = text(child(result, 'token'));
    if (!token) break;
    result = await vimCall(s, 'ContinueRetrievePropertiesEx', {
      _this: moRefArg(s.content.propertyCollector),
      token,
    });
  }
  return out;
}

export async function retrieveObjectProperties(
  s: VimSession,
  obj: MoRef,
  pathSet: string[],
): Promise<Map<string, unknown>> {
  return (await retrieveProperties(s, [obj], pathSet)).get(obj.value) ?? new Map();
}

export interface NetworkInfo {
  ref: MoRef;
  name: string;
  distributed: boolean;
}

/** The datacenter's networks keyed by moref value (a distributed portgroup's key is its moref). */
export async function datacenterNetworks(
  s: VimSession,
  datacenter: MoRef,
): Promise<Map<string, NetworkInfo>> {
  const dcProps = await retrieveObjectProperties(s, datacenter, ['network']);
  const refs = arrayItems(dcProps.get('network'))
    .map(toMoRef)
    .filter((r): r is MoRef => r !== undefined);
  const names = await retrieveProperties(s, refs, ['name']);
  const out = new Map<string, NetworkInfo>();
  for (const ref of refs) {
    const name = text(names.get(ref.value)?.get('name'));
    if (name !== undefined)
      out.set(ref.value, { ref, name, distributed: ref.type === 'DistributedVirtualPortgroup' });
  }
  return out;
}
