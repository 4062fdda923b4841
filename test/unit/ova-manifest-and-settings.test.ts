import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseManifest } from '../../functions/shared/sources/ova/manifest.ts';
import { MemberDigest, checkDigest } from '../../functions/shared/sources/ova/member-digest.ts';
import { redactUrl, resolveOvaHttpSettings } from '../../functions/shared/sources/ova/connection.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

const sha1 = createHash('sha1').update('x').digest('hex');
const sha256 = createHash('sha256').update('x').digest('hex');
const sha512 = createHash('sha512').update('x').digest('hex');

function failure(fn: () => unknown): SourceError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SourceError);
    return e;
  }
  assert.fail('expected a SourceError');
}

describe('OVA manifest', () => {
  it('parses SHA1/SHA256/SHA512 lines with any spacing, CRLF and upper-case hex', () => {
    const m = parseManifest(
      `SHA1(a.ovf)= ${sha1}\r\nSHA256(a-disk1.vmdk) = ${sha256.toUpperCase()}\n\nSHA512(b c.vmdk)=${sha512}\nSHA2-256(d.vmdk)= ${sha256}\n`,
    );
    assert.deepEqual(Object.fromEntries(m), {
      'a.ovf': { algorithm: 'sha1', hex: sha1 },
      'a-disk1.vmdk': { algorithm: 'sha256', hex: sha256 },
      'b c.vmdk': { algorithm: 'sha512', hex: sha512 },
      'd.vmdk': { algorithm: 'sha256', hex: sha256 },
    });
  });

  it('rejects unknown algorithms, bad lines and wrong digest lengths', () => {
    assert.match(
      failure(() => parseManifest(`MD5(a)= ${'0'.repeat(32)}`, 'x.mf')).message,
      /x.mf uses digest algorithm "MD5"/,
    );
    assert.match(failure(() => parseManifest('garbage', 'x.mf')).message, /x.mf line 1 is not/);
    assert.match(failure(() => parseManifest(`SHA256(a)= ${sha1}`)).message, /40 hex digits, expected 64/);
  });

  it('compares digests case-insensitively and names the file on mismatch', () => {
    const d = new MemberDigest(['sha256']);
    d.update(Buffer.from('x'));
    d.finish();
    checkDigest('disk.vmdk', d, { algorithm: 'sha256', hex: sha256 });
    const e = failure(() => checkDigest('disk.vmdk', d, { algorithm: 'sha256', hex: sha1 + '0'.repeat(24) }));
    assert.equal(e.reason, 'ChecksumMismatch');
    assert.match(e.message, /checksum mismatch for "disk.vmdk"/);
  });
});

describe('OVA HTTP settings', () => {
  it('accepts http and https only', () => {
    const e = failure(() => resolveOvaHttpSettings({ url: 'ftp://host/a.ova' }));
    assert.equal(e.reason, 'UnsupportedUrlScheme');
    assert.match(e.message, /"ftp"/);
    assert.equal(failure(() => resolveOvaHttpSettings({ url: '' })).reason, 'InvalidUrl');
    assert.equal(failure(() => resolveOvaHttpSettings({ url: 'not a url' })).reason, 'InvalidUrl');
  });

  it('applies the timeout default (600 s) and 0 = none', () => {
    assert.equal(resolveOvaHttpSettings({ url: 'http://h/a.ova' }).timeoutMs, 600_000);
    assert.equal(
      resolveOvaHttpSettings({ url: 'http://h/a.ova', httpTimeoutSeconds: null }).timeoutMs,
      600_000,
    );
    assert.equal(resolveOvaHttpSettings({ url: 'http://h/a.ova', httpTimeoutSeconds: 0 }).timeoutMs, 0);
    assert.equal(
      failure(() => resolveOvaHttpSettings({ url: 'http://h/a.ova', httpTimeoutSeconds: -1 })).reason,
      'InvalidSpec',
    );
  });

  it('needs both username and password, never echoing the password', () => {
    const e = failure(() => resolveOvaHttpSettings({ url: 'http://h/a.ova' }, { password: 's3cret' }));
    assert.equal(e.reason, 'InvalidCredentials');
    assert.doesNotMatch(e.message, /s3cret/);
    const s = resolveOvaHttpSettings({ url: 'http://h/a.ova' }, { username: 'u', password: 's3cret' });
    assert.deepEqual(s.auth, { username: 'u', password: 's3cret' });
  });

  it('takes credentials embedded in the URL out of the URL and out of messages', () => {
    const s = resolveOvaHttpSettings({ url: 'https://bob:pa%40ss@h.example/x/a.ova?X-Amz-Signature=abc' });
    assert.deepEqual(s.auth, { username: 'bob', password: 'pa@ss' });
    assert.equal(s.url, 'https://h.example/x/a.ova?X-Amz-Signature=abc');
    assert.equal(s.displayUrl, 'https://h.example/x/a.ova?…');
    assert.equal(redactUrl(new URL('http://a:b@h/p')), 'http://h/p');
  });

  it('verifies TLS against the system CAs, a custom ca.crt, or not at all only when asked', () => {
    assert.equal(resolveOvaHttpSettings({ url: 'https://h/a.ova' }).trust, 'system-cas');
    assert.equal(resolveOvaHttpSettings({ url: 'http://h/a.ova' }, { 'ca.crt': 'junk' }).trust, 'plain-http');
    const insecure = resolveOvaHttpSettings({ url: 'https://h/a.ova' }, { insecureSkipVerify: 'true' });
    assert.equal(insecure.trust, 'insecure');
    assert.equal(insecure.httpsAgent?.options.rejectUnauthorized, false);
    assert.equal(
      resolveOvaHttpSettings({ url: 'https://h/a.ova' }).httpsAgent?.options.rejectUnauthorized,
      true,
    );
    assert.equal(
      failure(() => resolveOvaHttpSettings({ url: 'https://h/a.ova' }, { insecureSkipVerify: 'yes' })).reason,
      'InvalidCredentials',
    );
    assert.equal(
      failure(() => resolveOvaHttpSettings({ url: 'https://h/a.ova' }, { 'ca.crt': 'not pem' })).reason,
      'InvalidCaCert',
    );
    assert.equal(
      failure(() =>
        resolveOvaHttpSettings(
          { url: 'https://h/a.ova' },
          { 'ca.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' },
        ),
      ).reason,
      'InvalidCaCert',
    );
  });
});
