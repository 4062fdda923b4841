// Pure parts of the OpenStack client: name matching, boot order, firmware, microversions,
// catalog lookup, secret parsing, backoff.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { selectEndpoint, type CatalogEntry } from '../../functions/shared/sources/openstack/catalog.ts';
import { credentialsFromSecret } from '../../functions/shared/sources/openstack/connection.ts';
import {
  exactNameRegex,
  firmwareFromImageProperties,
  pickServerByName,
  volumesInBootOrder,
  type CinderVolume,
} from '../../functions/shared/sources/openstack/server-model.ts';
import { chooseNovaMicroversion } from '../../functions/shared/sources/openstack/session.ts';
import { backoffDelays } from '../../functions/shared/sources/openstack/wait.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

const reason = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SourceError);
    return err.reason;
  }
  return 'no error';
};

describe('server name matching', () => {
  const servers = [
    { id: '1', name: 'testvm' },
    { id: '2', name: 'dup' },
    { id: '3', name: 'dup' },
  ];
  it('matches exact names only', () => {
    assert.equal(pickServerByName('testvm', servers).id, '1');
    assert.equal(
      reason(() => pickServerByName('test', servers)),
      'ServerNotFound',
    );
    assert.equal(
      reason(() => pickServerByName('dup', servers)),
      'ServerNameNotUnique',
    );
  });
  it('escapes regex characters for Nova', () => {
    assert.equal(exactNameRegex('a.b(c)*'), '^a\\.b\\(c\\)\\*$');
    assert.ok(new RegExp(exactNameRegex('a.b')).test('a.b'));
    assert.ok(!new RegExp(exactNameRegex('a.b')).test('axb'));
  });
});

describe('boot order', () => {
  const server = { id: 's', name: 'n', status: 'ACTIVE', image: '' };
  const vol = (id: string, device: string, bootable: boolean): CinderVolume => ({
    id,
    size: 1,
    bootable: bootable ? 'true' : 'false',
    attachments: [{ server_id: 's', device }],
  });
  it('puts the bootable root volume first, then by device name', () => {
    const order = volumesInBootOrder(server, [
      vol('c', '/dev/vdaa', false),
      vol('b', '/dev/vdb', false),
      vol('a', '/dev/vda', true),
    ]);
    assert.deepEqual(
      order.map((v) => v.id),
      ['a', 'b', 'c'],
    );
  });
  it('prefers the root device name when Nova tells it', () => {
    const order = volumesInBootOrder({ ...server, 'OS-EXT-SRV-ATTR:root_device_name': '/dev/vdb' }, [
      vol('a', '/dev/vda', true),
      vol('b', '/dev/vdb', true),
    ]);
    assert.equal(order[0]!.id, 'b');
  });
});

describe('firmware', () => {
  it('reads UEFI, Secure Boot and TPM; BIOS when unknown; no Secure Boot without UEFI', () => {
    assert.deepEqual(
      firmwareFromImageProperties({
        hw_firmware_type: 'uefi',
        os_secure_boot: 'required',
        hw_tpm_model: 'tpm-crb',
      }),
      {
        type: 'efi',
        secureBoot: true,
        tpm: true,
      },
    );
    assert.deepEqual(firmwareFromImageProperties(undefined), { type: 'bios', secureBoot: false, tpm: false });
    assert.deepEqual(firmwareFromImageProperties({ os_secure_boot: 'required', hw_firmware_type: 42 }), {
      type: 'bios',
      secureBoot: false,
      tpm: false,
    });
  });
});

describe('microversion and catalog', () => {
  it('caps our microversion at the cloud maximum', () => {
    assert.equal(chooseNovaMicroversion('2.1', '2.96'), '2.79');
    assert.equal(chooseNovaMicroversion('2.1', '2.60'), '2.60');
    assert.equal(chooseNovaMicroversion('', ''), undefined);
  });
  it('selects the public endpoint of the region or lists the regions', () => {
    const catalog: CatalogEntry[] = [
      { type: 'volumev3', endpoints: [{ interface: 'public', region_id: 'R1', url: 'https://c/v3/p/' }] },
      {
        type: 'compute',
        endpoints: [
          { interface: 'internal', region_id: 'R1', url: 'https://i' },
          { interface: 'public', region_id: 'R1', url: 'https://n' },
        ],
      },
    ];
    assert.equal(selectEndpoint(catalog, 'volume', 'R1'), 'https://c/v3/p');
    assert.equal(selectEndpoint(catalog, 'compute', 'R1'), 'https://n');
    assert.equal(
      reason(() => selectEndpoint(catalog, 'compute', 'R2')),
      'RegionNotFound',
    );
    assert.equal(
      reason(() => selectEndpoint(catalog, 'image', 'R1')),
      'ServiceNotFound',
    );
  });
});

describe('secret and backoff', () => {
  it('requires the upstream keys and never echoes values', () => {
    const err = (() => {
      try {
        credentialsFromSecret({ username: 'u', password: 'topsecret' }, 'os-creds');
      } catch (e) {
        return e as SourceError;
      }
      return undefined;
    })();
    assert.equal(err?.reason, 'InvalidSecret');
    assert.match(err!.message, /project_name/);
    assert.doesNotMatch(err!.message, /topsecret/);
    const c = credentialsFromSecret({
      username: 'u',
      password: 'p',
      project_name: 'p',
      domain_name: 'd',
      insecureSkipVerify: 'True',
    });
    assert.equal(c.insecureSkipVerify, true);
  });
  it('doubles delays up to the cap', () => {
    assert.deepEqual(backoffDelays(100, 1000, 6), [100, 200, 400, 800, 1000, 1000]);
  });
});
