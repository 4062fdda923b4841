// Harvester's admission rules for the objects vm-import creates, per Harvester release
// (versions.ts), as its webhook answers them. Pure decisions over what the cluster holds; the
// webhook server (admission-webhook.ts) fetches the objects and speaks AdmissionReview.
import type { HarvesterBehaviour } from './versions.ts';

export const LABEL_IMAGE_DISPLAY_NAME = 'harvesterhci.io/imageDisplayName';
export const ANNOTATION_STORAGE_CLASS = 'harvesterhci.io/storageClassName';
export const LONGHORN_PROVISIONER = 'driver.longhorn.io';
/** pkg/webhook/resources/virtualmachine/validator.go keyClusterNetwork. */
export const LABEL_CLUSTER_NETWORK = 'network.harvesterhci.io/clusternetwork';

export interface Meta {
  name?: string;
  namespace?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface ImageObject {
  metadata?: Meta;
  spec?: {
    displayName?: string;
    sourceType?: string;
    url?: string;
    backend?: string;
    targetStorageClassName?: string;
    storageClassParameters?: Record<string, string>;
  };
  status?: { storageClassName?: string };
}

export interface StorageClassObject {
  metadata?: Meta;
  provisioner?: string;
  parameters?: Record<string, string>;
}

export interface ClaimObject {
  metadata?: Meta;
  spec?: { storageClassName?: string };
}

export interface VmObject {
  metadata?: Meta;
  spec?: {
    template?: {
      spec?: {
        domain?: { devices?: { interfaces?: { name: string; macAddress?: string }[] } };
        networks?: { name: string; multus?: { networkName?: string } }[];
      };
    };
  };
}

export interface NadObject {
  metadata?: Meta;
}

/**
 * A refusal as Harvester's webhook sends it (pkg/webhook/error: Conflict 409, Invalid 422; any
 * other error is an InternalError 500, pkg/webhook/types/admission.go).
 */
export interface Denial {
  code: number;
  reason: string;
  message: string;
}

export type JsonPatch = (
  { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string }
)[];

const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
/** k8s.io/apimachinery validation.IsValidLabelValue. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const conflict = (message: string): Denial => ({ code: 409, reason: 'Conflict', message });
const invalid = (message: string): Denial => ({ code: 422, reason: 'Invalid', message });
const internal = (message: string): Denial => ({ code: 500, reason: 'InternalError', message });

/** pkg/util/image.go GetImageDefaultStorageClassParameters. */
const IMAGE_DEFAULT_PARAMETERS = { numberOfReplicas: '3', staleReplicaTimeout: '30', migratable: 'true' };
/** The class parameters an image takes over (pkg/image/common/mutator.go mergeStorageClassParams). */
const IMAGE_PARAMETER_KEYS = [
  'nodeSelector',
  'diskSelector',
  'numberOfReplicas',
  'staleReplicaTimeout',
  'dataLocality',
  'encrypted',
  'csi.storage.k8s.io/provisioner-secret-name',
  'csi.storage.k8s.io/provisioner-secret-namespace',
  'csi.storage.k8s.io/node-stage-secret-name',
  'csi.storage.k8s.io/node-stage-secret-namespace',
  'csi.storage.k8s.io/node-publish-secret-name',
  'csi.storage.k8s.io/node-publish-secret-namespace',
];

export function mergeStorageClassParams(
  base: StorageClassObject | undefined,
  given: Record<string, string> | undefined,
): Record<string, string> {
  const params: Record<string, string> = { ...IMAGE_DEFAULT_PARAMETERS };
  const from = base ? (base.parameters ?? {}) : (given ?? {});
  for (const key of IMAGE_PARAMETER_KEYS) if (from[key] !== undefined) params[key] = from[key];
  return params;
}

const defaultClass = (classes: StorageClassObject[]) =>
  classes.find((c) => c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true');

/**
 * Mutating webhook on image create: the display-name label (pkg/webhook/resources/
 * virtualmachineimage/mutator.go Create, "so that the validating webhook's CheckDisplayName can
 * always detect duplicate display names"), backend defaulting to backingimage and
 * EnsureTargetSC (≥ 1.5, pkg/image/common/mutator.go), and the backing-image class check of
 * getSC (patchImageStorageClassParams before 1.5): a named class must be a Longhorn one (a
 * refusal up to v1.5.0, a warning from v1.5.1). Returns the patch, or the refusal.
 */
export function mutateImageCreate(
  image: ImageObject,
  classes: StorageClassObject[],
  harvester: HarvesterBehaviour,
): { patch: JsonPatch } | { denied: Denial } {
  const patch: JsonPatch = [];
  const spec = image.spec ?? {};
  if (!image.metadata?.labels) patch.push({ op: 'add', path: '/metadata/labels', value: {} });
  patch.push({
    op: 'add',
    path: `/metadata/labels/${pointer(LABEL_IMAGE_DISPLAY_NAME)}`,
    value: spec.displayName ?? '',
  });
  let backend = 'backingimage';
  if (harvester.imageBackend) {
    if (!spec.backend) patch.push({ op: 'add', path: '/spec/backend', value: 'backingimage' });
    else backend = spec.backend;
  } else {
    // Before 1.5 the CRD has neither field (pkg/apis/harvesterhci.io/v1beta1/image.go): the API
    // server prunes them from what it stores (structural schema). The local cluster serves the
    // newest CRD, so the mutator removes them as the old CRD's pruning would.
    for (const field of ['backend', 'targetStorageClassName'] as const)
      if (spec[field] !== undefined) patch.push({ op: 'remove', path: `/spec/${field}` });
  }
  const named = image.metadata?.annotations?.[ANNOTATION_STORAGE_CLASS];
  if (backend === 'backingimage') {
    // PatchImageSCParams → getSC: the named class, else the default class if it is a Longhorn one.
    let base: StorageClassObject | undefined;
    if (named) {
      const sc = classes.find((c) => c.metadata?.name === named);
      if (!sc) return { denied: internal(`storageclass.storage.k8s.io "${named}" not found`) };
      if (sc.provisioner !== LONGHORN_PROVISIONER && harvester.rejectsNonLonghornBackingImageClass)
        return {
          denied: internal(
            `the provisioner of storageClass must be ${LONGHORN_PROVISIONER}, not ${sc.provisioner}`,
          ),
        };
      if (sc.parameters?.backingImage)
        return {
          denied: internal('can not use a backing image storageClass as the base storageClass template'),
        };
      base = sc.provisioner === LONGHORN_PROVISIONER ? sc : undefined;
    } else {
      const dflt = defaultClass(classes);
      base = dflt?.provisioner === LONGHORN_PROVISIONER ? dflt : undefined;
    }
    patch.push({
      op: spec.storageClassParameters ? 'replace' : 'add',
      path: '/spec/storageClassParameters',
      value: mergeStorageClassParams(base, spec.storageClassParameters),
    });
  }
  if (harvester.imageBackend) {
    // EnsureTargetSC: annotation and spec.targetStorageClassName agree, defaulting to the default class.
    const target = named || spec.targetStorageClassName || defaultClass(classes)?.metadata?.name;
    if (!target) return { denied: internal('missing default storage class') };
    if (!named) {
      if (!image.metadata?.annotations) patch.push({ op: 'add', path: '/metadata/annotations', value: {} });
      patch.push({
        op: 'add',
        path: `/metadata/annotations/${pointer(ANNOTATION_STORAGE_CLASS)}`,
        value: target,
      });
    }
    if (!spec.targetStorageClassName)
      patch.push({ op: 'add', path: '/spec/targetStorageClassName', value: target });
  }
  return { patch };
}

/**
 * Validating webhook on image create (pkg/image/common/validator.go CheckDisplayName and
 * commonCheckDisplayName, CheckURL, scConsistencyCreation): the display name is a valid label
 * value and no other image of the namespace carries it in its display-name label — images being
 * deleted included (the cache still holds them while Harvester's finalizer is on them).
 */
export function validateImageCreate(image: ImageObject, namespaceImages: ImageObject[]): Denial | undefined {
  const displayName = image.spec?.displayName ?? '';
  if (!displayName) return invalid('displayName is required');
  if (!LABEL_VALUE.test(displayName) || displayName.length > 63)
    return invalid(`displayName is not a valid Kubernetes label value: ${displayName}`);
  const same = namespaceImages.filter(
    (other) =>
      other.metadata?.labels?.[LABEL_IMAGE_DISPLAY_NAME] === displayName &&
      other.metadata?.uid !== image.metadata?.uid,
  );
  if (same.length) return conflict('A resource with the same name exists');
  const type = image.spec?.sourceType;
  if ((type === 'download' || type === 'restore') && !image.spec?.url) return invalid('url is required');
  const annotated = image.metadata?.annotations?.[ANNOTATION_STORAGE_CLASS];
  const target = image.spec?.targetStorageClassName;
  if (annotated && target && annotated !== target)
    return invalid('storageClassName should keep the consistency');
  return undefined;
}

/**
 * Validating webhook on image update (common/validator.go CheckUpdateDisplayName,
 * URLConsistency, SourceTypeConsistency; SCParametersConsistency for backing images).
 */
export function validateImageUpdate(old: ImageObject, next: ImageObject): Denial | undefined {
  if (old.spec?.displayName !== next.spec?.displayName) return invalid('displayName cannot be modified');
  if (
    (old.spec?.backend ?? 'backingimage') === 'backingimage' &&
    JSON.stringify(old.spec?.storageClassParameters ?? null) !==
      JSON.stringify(next.spec?.storageClassParameters ?? null)
  )
    return invalid('storageClassParameters of the VM Image cannot be modified');
  if (old.spec?.url !== next.spec?.url) return invalid('url cannot be modified');
  if (old.spec?.sourceType !== next.spec?.sourceType) return invalid('sourceType cannot be modified');
  return undefined;
}

/**
 * Validating webhook on image delete, backingimage backend (pkg/image/backingimage/validate.go
 * Delete → common/validator.go PVCOccupation): refused while any claim of any namespace —
 * terminating ones included — uses the image's StorageClass. The cdi backend's Delete allows all.
 */
export function validateImageDelete(
  image: ImageObject,
  claims: ClaimObject[],
  harvester: HarvesterBehaviour,
): Denial | undefined {
  const backend = harvester.imageBackend ? (image.spec?.backend ?? 'backingimage') : 'backingimage';
  const sc = image.status?.storageClassName;
  if (backend !== 'backingimage' || !sc) return undefined;
  const user = claims.find((c) => c.spec?.storageClassName === sc);
  if (!user) return undefined;
  return invalid(
    `Cannot delete image ${image.metadata?.namespace}/${image.spec?.displayName}: being used by volume ${user.metadata?.namespace}/${user.metadata?.name}`,
  );
}

/** map[clusterNetwork]map[mac]"<interface>+<ns>/<vm>" (validator.go getVMInterfaceInfo). */
function macsByClusterNetwork(vm: VmObject, nads: NadObject[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  const vmName = `${vm.metadata?.namespace}/${vm.metadata?.name}`;
  const clusterOf = new Map<string, string>();
  for (const net of vm.spec?.template?.spec?.networks ?? []) {
    const ref = net.multus?.networkName;
    if (!ref) continue;
    const [ns, name] = ref.includes('/') ? ref.split('/') : ['default', ref];
    const nad = nads.find((n) => n.metadata?.namespace === ns && n.metadata?.name === name);
    clusterOf.set(net.name, nad?.metadata?.labels?.[LABEL_CLUSTER_NETWORK] ?? '');
  }
  for (const nic of vm.spec?.template?.spec?.domain?.devices?.interfaces ?? []) {
    if (!nic.macAddress) continue;
    const cn = clusterOf.get(nic.name) ?? '';
    const macs = out.get(cn) ?? new Map<string, string>();
    macs.set(nic.macAddress, `${nic.name}+${vmName}`);
    out.set(cn, macs);
  }
  return out;
}

/**
 * Validating webhook on VirtualMachine create/update, ≥ 1.5 (pkg/webhook/resources/
 * virtualmachine/validator.go checkForDuplicateMacAddrs): refused when a VM of any namespace has
 * one of its MAC addresses on the same cluster network (the same interface of the same VM is
 * not a duplicate).
 */
export function validateVmMacs(
  vm: VmObject,
  allVms: VmObject[],
  nads: NadObject[],
  harvester: HarvesterBehaviour,
): Denial | undefined {
  if (!harvester.duplicateMacCheck) return undefined;
  const mine = macsByClusterNetwork(vm, nads);
  if (!mine.size) return undefined;
  const wanted = new Set([...mine.values()].flatMap((m) => [...m.keys()]));
  const others = allVms.filter((o) =>
    (o.spec?.template?.spec?.domain?.devices?.interfaces ?? []).some(
      (i) => i.macAddress && wanted.has(i.macAddress),
    ),
  );
  const theirs = new Map<string, Map<string, string>>();
  for (const o of others)
    for (const [cn, macs] of macsByClusterNetwork(o, nads)) {
      const into = theirs.get(cn) ?? new Map<string, string>();
      for (const [mac, owner] of macs) into.set(mac, owner);
      theirs.set(cn, into);
    }
  for (const [cn, macs] of mine) {
    const other = theirs.get(cn);
    if (!other) continue;
    for (const [mac, owner] of macs) {
      const used = other.get(mac);
      if (used !== undefined && used !== owner)
        // A plain error, which pkg/webhook/types/admission.go turns into an InternalError (500).
        return internal(
          `duplicate mac address present for vm ${vm.metadata?.name} for cluster network ${cn}`,
        );
    }
  }
  return undefined;
}
