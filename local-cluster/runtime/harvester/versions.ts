// The Harvester release the stand-ins play, and which of its admission rules and controller
// behaviours differ between the releases vm-import supports (README "Harvester versions"). Each
// flag names the harvester/harvester source it follows.
export const SUPPORTED_HARVESTER_VERSIONS = ['v1.2', 'v1.3', 'v1.4', 'v1.5.0', 'v1.5', 'v1.6'] as const;
/** What the local cluster plays unless told otherwise (VMI_HARVESTER_VERSION, `--harvester-version`). */
export const DEFAULT_HARVESTER_VERSION = 'v1.6.0';

export interface HarvesterVersion {
  major: number;
  minor: number;
  patch: number;
}

export function parseHarvesterVersion(text: string): HarvesterVersion {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text.trim());
  if (!m) throw new Error(`Harvester version "${text}" is not vMAJOR.MINOR[.PATCH]`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

const atLeast = (v: HarvesterVersion, minor: number, patch = 0) =>
  v.major > 1 || (v.major === 1 && (v.minor > minor || (v.minor === minor && v.patch >= patch)));

export interface HarvesterBehaviour {
  version: string;
  /**
   * VirtualMachineImage status.virtualSize exists (pkg/apis/harvesterhci.io/v1beta1/image.go:
   * VirtualSize appears in v1.4.0; v1.2/v1.3 report only status.size, the downloaded file's size).
   */
  imageVirtualSize: boolean;
  /**
   * spec.backend and spec.targetStorageClassName exist, the mutator defaults backend to
   * backingimage and fills targetStorageClassName (pkg/webhook/resources/virtualmachineimage/
   * mutator.go Create, pkg/image/common/mutator.go EnsureTargetSC; both from v1.5.0).
   */
  imageBackend: boolean;
  /**
   * A backingimage image on a class whose provisioner is not driver.longhorn.io is rejected
   * ("the provisioner of storageClass must be driver.longhorn.io, not …": v1.4.0
   * pkg/webhook/resources/virtualmachineimage/mutator.go, v1.5.0 pkg/image/common/mutator.go
   * getSC); from v1.5.1 getSC logs a warning and uses the default parameters instead.
   */
  rejectsNonLonghornBackingImageClass: boolean;
  /**
   * VirtualMachine create/update is rejected when another VM has one of its MAC addresses on the
   * same cluster network (pkg/webhook/resources/virtualmachine/validator.go
   * checkForDuplicateMacAddrs, from v1.5.0).
   */
  duplicateMacCheck: boolean;
}

export function harvesterBehaviour(text: string): HarvesterBehaviour {
  const v = parseHarvesterVersion(text);
  if (!atLeast(v, 2) || atLeast(v, 7))
    throw new Error(
      `Harvester ${text} is not one vm-import supports (${SUPPORTED_HARVESTER_VERSIONS.join(', ')})`,
    );
  return {
    version: `v${v.major}.${v.minor}.${v.patch}`,
    imageVirtualSize: atLeast(v, 4),
    imageBackend: atLeast(v, 5),
    rejectsNonLonghornBackingImageClass: !atLeast(v, 5, 1),
    duplicateMacCheck: atLeast(v, 5),
  };
}
