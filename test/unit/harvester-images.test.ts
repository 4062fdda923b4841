import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildVirtualMachineImage,
  imageState,
  imageStorageClassName,
  imageVolumeSizeBytes,
  type ImageCondition,
  type ImageLike,
} from '../../functions/shared/harvester/virtual-machine-image.ts';
import { diskImageState, evaluateDiskImages } from '../../functions/shared/harvester/disk-images-status.ts';
import { imageDisplayName } from '../../functions/shared/naming.ts';
import type { DiskInfo } from '../../functions/shared/api/index.ts';

test('buildVirtualMachineImage: download image owned by the import, labelled for lookup', () => {
  const displayName = imageDisplayName('alpine', 1);
  const image = buildVirtualMachineImage({
    namespace: 'imports',
    importName: 'alpine',
    importUid: '11111111-2222-3333-4444-555555555555',
    diskIndex: 1,
    url: 'http://alpine-disks.imports.svc:8080/t0k3n/disk-1.img',
    displayName,
  });
  assert.deepEqual(image, {
    apiVersion: 'harvesterhci.io/v1beta1',
    kind: 'VirtualMachineImage',
    metadata: {
      generateName: 'image-',
      namespace: 'imports',
      labels: {
        'harvesterhci.io/imageDisplayName': 'vm-import-alpine-disk-1',
        'migration.harvesterhci.io/imported': 'true',
        'migration.harvesterhci.io/import-name': 'alpine',
        'migration.harvesterhci.io/import-uid': '11111111-2222-3333-4444-555555555555',
        'migration.harvesterhci.io/disk-index': '1',
      },
      ownerReferences: [
        {
          apiVersion: 'migration.harvesterhci.io/v1beta1',
          kind: 'VirtualMachineImport',
          name: 'alpine',
          uid: '11111111-2222-3333-4444-555555555555',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    },
    spec: {
      displayName: 'vm-import-alpine-disk-1',
      sourceType: 'download',
      url: 'http://alpine-disks.imports.svc:8080/t0k3n/disk-1.img',
      retry: 3,
    },
  });
});

test('buildVirtualMachineImage: storage class as annotation + targetStorageClassName, backend and retry when given', () => {
  const image = buildVirtualMachineImage({
    namespace: 'n',
    importName: 'Not A Label Value!',
    importUid: 'u',
    diskIndex: 0,
    url: 'http://x/disk-0.img',
    displayName: 'vm-import-x-disk-0',
    storageClassName: 'longhorn-ssd',
    backend: 'cdi',
    retry: 5,
  });
  assert.deepEqual(image.metadata.annotations, { 'harvesterhci.io/storageClassName': 'longhorn-ssd' });
  assert.equal(image.spec.targetStorageClassName, 'longhorn-ssd');
  assert.equal(image.spec.backend, 'cdi');
  assert.equal(image.spec.retry, 5);
  assert.match(
    image.metadata.labels['migration.harvesterhci.io/import-name'] ?? '',
    /^Not-A-Label-Value-[0-9a-f]{6}$/,
  );
});

const img = (
  conditions: ImageCondition[],
  status: Partial<NonNullable<ImageLike['status']>> = {},
  retry?: number,
): ImageLike => ({
  metadata: { name: 'image-abc12' },
  spec: retry === undefined ? {} : { retry },
  status: { conditions, ...status },
});

test('imageState: nothing reported yet is pending', () => {
  assert.deepEqual(imageState({}), { state: 'pending', retryable: false });
  assert.deepEqual(imageState(img([])), { state: 'pending', retryable: false });
});

test('imageState: Initialized + Imported=Unknown is importing with progress', () => {
  const s = imageState(
    img(
      [
        { type: 'Initialized', status: 'True', reason: 'Initialized' },
        { type: 'Imported', status: 'Unknown', reason: 'Importing', message: 'downloading' },
      ],
      { progress: 42 },
    ),
  );
  assert.deepEqual(s, { state: 'importing', progress: 42, message: 'downloading', retryable: false });
});

test('imageState: Imported=True is ready (also after earlier failed attempts)', () => {
  const s = imageState(
    img(
      [
        { type: 'Imported', status: 'True', reason: 'Imported' },
        { type: 'RetryLimitExceeded', status: 'False', reason: '', message: '' },
      ],
      { progress: 100, failed: 2 },
    ),
  );
  assert.deepEqual(s, { state: 'ready', progress: 100, retryable: false });
});

test('imageState: Harvester ≤ 1.1 failure (Imported=False, reason ImportFailed)', () => {
  const s = imageState(
    img([{ type: 'Imported', status: 'False', reason: 'ImportFailed', message: 'connection refused' }]),
  );
  assert.deepEqual(s, { state: 'failed', message: 'connection refused', retryable: true });
});

test('imageState: Harvester 1.2–1.3 failure (RetryLimitExceeded=True, Imported=False without reason)', () => {
  const s = imageState(
    img(
      [
        { type: 'Initialized', status: 'True' },
        { type: 'Imported', status: 'False', message: 'failed to download: unexpected EOF' },
        {
          type: 'RetryLimitExceeded',
          status: 'True',
          message: 'VMImage has reached the specified retry limit',
        },
      ],
      { failed: 4 },
      3,
    ),
  );
  assert.equal(s.state, 'failed');
  assert.equal(s.message, 'failed to download: unexpected EOF');
  assert.equal(s.retryable, true);
});

test('imageState: Harvester ≥ 1.4 URL check failure (Initialized=False) with 404 is not retryable', () => {
  const msg = 'retry attempted 3/3 failed due to error: got 404 status code from http://x/disk-0.img';
  const s = imageState(
    img(
      [
        { type: 'Initialized', status: 'False', message: msg },
        { type: 'RetryLimitExceeded', status: 'True', message: msg },
      ],
      { failed: 4 },
      3,
    ),
  );
  assert.deepEqual(s, { state: 'failed', message: msg, retryable: false });
});

test('imageState: ≥ 1.4 between attempts (RetryLimitExceeded=False, failed > 0) is still importing', () => {
  const s = imageState(
    img(
      [
        { type: 'Initialized', status: 'True' },
        { type: 'Imported', status: 'Unknown', reason: 'Importing' },
        { type: 'RetryLimitExceeded', status: 'False', message: 'failed due to error: connection reset' },
      ],
      { failed: 1, progress: 10 },
      3,
    ),
  );
  assert.deepEqual(s, {
    state: 'importing',
    progress: 10,
    message: 'failed due to error: connection reset',
    retryable: false,
  });
  // 1.2/1.3 retry without a message: the attempt count is reported.
  const old = imageState(
    img(
      [
        { type: 'Initialized', status: 'True' },
        { type: 'Imported', status: 'Unknown' },
      ],
      { failed: 2 },
    ),
  );
  assert.equal(old.state, 'importing');
  assert.match(old.message ?? '', /attempt 2 of 4 failed/);
});

test('imageState: failures without conditions, checksum, upload, missing backing image, deletion', () => {
  assert.equal(imageState(img([], { failed: 2 }, 1)).state, 'failed');
  assert.equal(imageState(img([], { failed: 1 }, 3)).state, 'pending');
  const checksum = imageState(
    img([
      { type: 'Imported', status: 'False', message: 'checksum mismatch' },
      { type: 'RetryLimitExceeded', status: 'True' },
    ]),
  );
  assert.equal(checksum.retryable, false);
  const upload = imageState(img([{ type: 'Imported', status: 'False', reason: 'UploadFailed' }]));
  assert.deepEqual(upload, { state: 'failed', message: 'UploadFailed', retryable: true });
  const missing = imageState(
    img([
      { type: 'Imported', status: 'True' },
      { type: 'BackingImageMissing', status: 'True', message: 'Failed to get backing image: not found' },
    ]),
  );
  assert.deepEqual(missing, {
    state: 'failed',
    message: 'Failed to get backing image: not found',
    retryable: true,
  });
  const deleting = imageState({
    metadata: { deletionTimestamp: '2026-01-01T00:00:00Z' },
    status: { conditions: [{ type: 'Imported', status: 'True' }] },
  });
  assert.equal(deleting.state, 'failed');
  assert.match(deleting.message ?? '', /being deleted/);
});

test('imageVolumeSizeBytes and imageStorageClassName', () => {
  assert.equal(imageVolumeSizeBytes({ status: { size: 100, virtualSize: 200 } }), 200);
  assert.equal(imageVolumeSizeBytes({ status: { size: 100 } }), 100);
  assert.equal(imageVolumeSizeBytes({ status: {} }), undefined);
  assert.equal(
    imageStorageClassName({
      metadata: { name: 'image-x' },
      status: { storageClassName: 'longhorn-image-x' },
    }),
    'longhorn-image-x',
  );
  assert.equal(imageStorageClassName({ metadata: { name: 'image-y' } }), 'longhorn-image-y');
  assert.equal(imageStorageClassName({}), undefined);
});

const disk = (...types: string[]): DiskInfo => ({
  diskName: 'disk.img',
  diskConditions: types.map((type) => ({ type, status: 'True' })),
});
const READY = 'VirtualMachineImageReady';
const FAILED = 'VirtualMachineImageFailed';
const SUBMITTED = 'VirtualMachineImageSubmitted';

test('diskImageState', () => {
  assert.equal(diskImageState(disk(SUBMITTED)), 'pending');
  assert.equal(diskImageState(disk(SUBMITTED, READY)), 'ready');
  assert.equal(diskImageState(disk(SUBMITTED, FAILED)), 'failed');
  assert.equal(diskImageState(disk(READY, FAILED)), 'failed');
  assert.equal(diskImageState({ diskConditions: [{ type: READY, status: 'False' }] }), 'pending');
  assert.equal(diskImageState({}), 'pending');
});

test('evaluateDiskImages: ready only when all are ready', () => {
  assert.equal(evaluateDiskImages([disk(READY), disk(READY)]), 'ready');
  assert.equal(evaluateDiskImages([disk(READY), disk(SUBMITTED)]), 'waiting');
  assert.equal(evaluateDiskImages([]), 'waiting');
});

test('evaluateDiskImages: failed only once no disk is pending, independent of order (upstream B5)', () => {
  assert.equal(evaluateDiskImages([disk(FAILED), disk(SUBMITTED)]), 'waiting');
  assert.equal(evaluateDiskImages([disk(SUBMITTED), disk(FAILED)]), 'waiting');
  assert.equal(evaluateDiskImages([disk(FAILED), disk(READY)]), 'failed');
  assert.equal(evaluateDiskImages([disk(READY), disk(FAILED)]), 'failed');
  assert.equal(evaluateDiskImages([disk(FAILED), disk(FAILED)]), 'failed');
});

test('imageVolumeSizeBytes: Harvester 1.2–1.3 report only the downloaded (qcow2) file size; the volume gets the source disk virtual size', () => {
  const GiB = 1024 ** 3;
  // Harvester 1.3: a 10 GiB disk served as a 3 GiB qcow2 → status.size 3 GiB, no virtualSize.
  assert.equal(imageVolumeSizeBytes({ status: { size: 3 * GiB } }, 10 * GiB), 10 * GiB);
  // Harvester ≥ 1.4: virtualSize is the disk's size.
  assert.equal(
    imageVolumeSizeBytes({ status: { size: 3 * GiB, virtualSize: 10 * GiB } }, 10 * GiB),
    10 * GiB,
  );
  // never smaller than what Harvester reports
  assert.equal(
    imageVolumeSizeBytes({ status: { size: 3 * GiB, virtualSize: 12 * GiB } }, 10 * GiB),
    12 * GiB,
  );
});
