// Which Harvester image backend a target StorageClass needs (Harvester ≥ 1.5, spec.backend).
// Backing images are Longhorn v1 only: a backingimage image on another class is refused by
// Harvester 1.4–1.5.0 and, from 1.5.1, lands on `longhorn-<image>` (Longhorn v1) instead of the
// class the user asked for. Every other class — Longhorn v2, third-party CSI — takes the `cdi`
// backend, whose DataVolume is created in that class (harvester pkg/image/cdi/cdi.go).
import type { ImageBackend } from './virtual-machine-image.ts';

export const LONGHORN_PROVISIONER = 'driver.longhorn.io';

export interface StorageClassLike {
  provisioner?: string;
  parameters?: Record<string, string> | null;
}

/**
 * Upstream (pkg/util/storageclass.go GetBackendFromStorageClass) asks for `dataEngine: v1`
 * explicitly; a Longhorn class without the parameter is v1 too (Longhorn's default data engine,
 * and Harvester's own `harvester-longhorn` class has none), so it keeps backing images.
 */
export function imageBackendFor(storageClass: StorageClassLike): ImageBackend {
  if (storageClass.provisioner !== LONGHORN_PROVISIONER) return 'cdi';
  return (storageClass.parameters?.dataEngine ?? 'v1') === 'v1' ? 'backingimage' : 'cdi';
}
