// Harvester's `cdi` image backend (harvester/harvester pkg/image/cdi, v1.5.0 to v1.9): what it
// asks of the image's URL before anything is downloaded, and the DataVolume it creates. The image
// controller stand-in (image-controller.ts) does the I/O.
import type http from 'node:http';
import type https from 'node:https';
import type { Readable } from 'node:stream';
import axios from 'axios';
import type { KubeObject } from '../../../functions/shared/kube/client.ts';
import type { StorageClass } from '../storage/classes.ts';

/**
 * common.go fetchImageVirtualSize and fetchImageSize: the first 128 bytes (Range: bytes=0-127;
 * a qcow2 header holds the virtual size at bytes 24-31, big-endian) and a HEAD for the
 * Content-Length. Not qcow2: the virtual size is the Content-Length. Errors are Harvester's words.
 */
export async function fetchImageSizes(
  url: string,
  agents: { httpAgent: http.Agent; httpsAgent: https.Agent },
): Promise<{ size: number; virtualSize: number }> {
  // io.LimitReader(rsp.Body, 128): a server that ignores Range sends the whole file; only 128 bytes are read.
  const head = await axios.get<Readable>(url, {
    headers: { Range: 'bytes=0-127' },
    responseType: 'stream',
    validateStatus: () => true,
    timeout: 30_000,
    ...agents,
  });
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of head.data) {
    chunks.push(chunk as Buffer);
    got += (chunk as Buffer).length;
    if (got >= 128) break;
  }
  head.data.destroy();
  const raw = Buffer.concat(chunks).subarray(0, 128);
  if (raw.length < 128)
    throw new Error('failed to fetch image virtual size: content length is less than 128 bytes');
  const virtual = raw.subarray(0, 4).toString('latin1') === 'QFI\xfb' ? Number(raw.readBigUInt64BE(24)) : 0;
  const res = await axios.head(url, { validateStatus: () => true, timeout: 30_000, ...agents });
  const length = res.headers['content-length'] ?? res.headers['x-goog-stored-content-length'];
  if (length === undefined || length === '')
    throw new Error('failed to fetch image size: Content-Length is not found in the header');
  const size = Number(length);
  if (!Number.isSafeInteger(size))
    throw new Error(`failed to fetch image size: strconv.ParseInt: parsing "${length}": invalid syntax`);
  return { size, virtualSize: virtual || size };
}

type ImageForDv = KubeObject & {
  spec?: { url?: string; targetStorageClassName?: string };
  status?: { virtualSize?: number };
};

/**
 * cdi.go initializeDownload: the DataVolume is named after the image, in its namespace, owned by
 * it; source HTTP with the image's URL; storage = the target class with exactly status.virtualSize
 * (common.go generateDVTargetStorage); a WaitForFirstConsumer class gets
 * cdi.kubevirt.io/storage.bind.immediate.requested (GenerateDVAnnotations).
 */
export function imageDataVolume(img: ImageForDv, sc: StorageClass): KubeObject {
  const virtualSize = img.status?.virtualSize ?? 0;
  if (!virtualSize) throw new Error('failed to generate DV target storage: virtual size is not set');
  return {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: {
      name: img.metadata!.name,
      namespace: img.metadata!.namespace,
      annotations:
        sc.volumeBindingMode === 'WaitForFirstConsumer'
          ? { 'cdi.kubevirt.io/storage.bind.immediate.requested': 'true' }
          : {},
      ownerReferences: [
        {
          apiVersion: 'harvesterhci.io/v1beta1',
          kind: 'VirtualMachineImage',
          name: img.metadata!.name!,
          uid: img.metadata!.uid!,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      source: { http: { url: img.spec?.url ?? '' } },
      storage: {
        storageClassName: img.spec?.targetStorageClassName,
        resources: { requests: { storage: String(virtualSize) } },
      },
    },
  };
}

/** cdi.go Check: a DataVolume's progress ("88.82%") as the image's integer progress; N/A or empty: none. */
export function dataVolumeProgress(progress: string | undefined): number | undefined {
  if (!progress || progress === 'N/A') return undefined;
  const n = Number.parseInt(progress.split('.')[0]!, 10);
  return Number.isFinite(n) ? n : undefined;
}
