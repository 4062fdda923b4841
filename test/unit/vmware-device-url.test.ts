// The NFC device URL of an export lease receives the vCenter session cookie: it must be https
// (the cookie never travels in clear) and carry no user info (issue 22, "to check").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveDeviceUrl } from '../../functions/shared/sources/vmware/export.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

test('a plain-http or malformed lease device URL is refused before the session cookie is sent', () => {
  for (const url of [
    'http://*/nfc/52ab/disk-0.vmdk',
    'http://attacker.example/nfc/1/disk-0.vmdk',
    'ftp://esx1/nfc/1/disk-0.vmdk',
    'https://user:pw@esx1/nfc/1/disk-0.vmdk',
    'not a url',
  ]) {
    assert.throws(
      () => resolveDeviceUrl(url, 'https://vc.example.com/sdk'),
      (e: unknown) => e instanceof SourceError && e.reason === 'UnsafeDeviceUrl' && !/pw@/.test(e.message),
      url,
    );
  }
  assert.equal(
    resolveDeviceUrl('https://esx1.example.com/nfc/1/disk-0.vmdk', 'https://vc/sdk'),
    'https://esx1.example.com/nfc/1/disk-0.vmdk',
  );
});
