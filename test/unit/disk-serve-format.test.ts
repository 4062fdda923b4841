import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseServedFormat } from '../../functions/shared/disk/serve.ts';
import { resolveDiskRequest } from '../../functions/images/disk-server.ts';

const GiB = 1024 ** 3;

test('chooseServedFormat: qcow2 below 90 % allocated, raw from 90 % on and for empty files', () => {
  assert.equal(chooseServedFormat(4 * GiB, []), 'qcow2');
  assert.equal(chooseServedFormat(4 * GiB, [{ offset: 0, length: 2 * GiB }]), 'qcow2');
  const justBelow = Math.floor(4 * GiB * 0.9) - 65536;
  assert.equal(chooseServedFormat(4 * GiB, [{ offset: 0, length: justBelow }]), 'qcow2');
  assert.equal(chooseServedFormat(4 * GiB, [{ offset: 0, length: Math.ceil(4 * GiB * 0.9) }]), 'raw');
  assert.equal(
    chooseServedFormat(4 * GiB, [
      { offset: 0, length: 2 * GiB },
      { offset: 2 * GiB + 65536, length: 2 * GiB - 65536 },
    ]),
    'raw',
  );
  assert.equal(chooseServedFormat(0, []), 'raw');
});

test('resolveDiskRequest: bare name is auto, .qcow2 and .raw force a format, others 404', () => {
  const o = { scratchDir: '/scratch', token: 't0k3n-0123456789abcdef' };
  assert.deepEqual(resolveDiskRequest(`/${o.token}/disk-0.img`, o), {
    rawPath: '/scratch/disk-0.img',
    format: 'auto',
  });
  assert.deepEqual(resolveDiskRequest(`/${o.token}/disk-1.raw.qcow2`, o), {
    rawPath: '/scratch/disk-1.raw',
    format: 'qcow2',
  });
  assert.deepEqual(resolveDiskRequest(`/${o.token}/disk-2.img.raw?x=1`, o), {
    rawPath: '/scratch/disk-2.img',
    format: 'raw',
  });
  for (const bad of [
    `/wrong/disk-0.img`,
    `/${o.token}/disk-0.vmdk`,
    `/${o.token}/../disk-0.img`,
    `/${o.token}/disk-0.img/x`,
    `/${o.token}/disk-0.qcow2`,
    `/${o.token}/.qcow2`,
  ])
    assert.equal(resolveDiskRequest(bad, o), undefined, bad);
});
