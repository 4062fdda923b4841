import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dnsName,
  imageDisplayName,
  isDnsLabel,
  isLabelValue,
  labelValue,
  sanitizeVmName,
  shortHash,
} from '../../functions/shared/naming.ts';

test('sanitizeVmName: upstream-valid names are only lower-cased', () => {
  assert.equal(sanitizeVmName('MyVM'), 'myvm');
  assert.equal(sanitizeVmName('web-01'), 'web-01');
  assert.equal(sanitizeVmName('0start'), '0start');
});

test('sanitizeVmName: names upstream rejects are converted', () => {
  assert.equal(sanitizeVmName('my_vm'), 'my-vm');
  assert.equal(sanitizeVmName('My VM'), 'my-vm');
  assert.equal(sanitizeVmName('vm.1'), 'vm-1');
  assert.equal(sanitizeVmName('  --Web  Server (prod)__ '), 'web-server-prod');
  assert.equal(sanitizeVmName('a___b...c'), 'a-b-c');
});

test('sanitizeVmName: accents are folded, other unicode becomes -', () => {
  assert.equal(sanitizeVmName('Café Müller'), 'cafe-muller');
  assert.equal(sanitizeVmName('ｗｅｂ１'), 'web1'); // full-width forms fold to ASCII
  assert.equal(sanitizeVmName('db-数据库-1'), 'db-1');
});

test('sanitizeVmName: nothing usable gives vm', () => {
  assert.equal(sanitizeVmName(''), 'vm');
  assert.equal(sanitizeVmName('___'), 'vm');
  assert.equal(sanitizeVmName('数据库'), 'vm');
  assert.equal(sanitizeVmName('🙂'), 'vm');
});

test('sanitizeVmName: 63 characters stay, 64+ are cut with a stable hash of the source name', () => {
  const exactly63 = 'a'.repeat(63);
  assert.equal(sanitizeVmName(exactly63), exactly63);
  const long = 'Very_Long_Name_' + 'x'.repeat(60);
  const name = sanitizeVmName(long);
  assert.equal(name.length, 63);
  assert.ok(isDnsLabel(name), name);
  assert.ok(name.startsWith('very-long-name-xxx'));
  assert.ok(name.endsWith(`-${shortHash(long)}`));
  assert.equal(sanitizeVmName(long), name, 'deterministic');
  // Two names that differ only after the cut get different results.
  assert.notEqual(sanitizeVmName('b'.repeat(70) + '1'), sanitizeVmName('b'.repeat(70) + '2'));
});

test('sanitizeVmName: the cut never leaves a dash before the hash', () => {
  const long = 'a'.repeat(55) + '_' + 'b'.repeat(20); // the cut falls right after the "_" → "-"
  const name = sanitizeVmName(long);
  assert.ok(isDnsLabel(name), name);
  assert.ok(!name.includes('--'), name);
  assert.equal(name, `${'a'.repeat(55)}-${shortHash(long)}`);
});

test('sanitizeVmName: a taken name gets a hash suffix, attempts continue until free', () => {
  const seen: string[] = [];
  const first = sanitizeVmName('My VM', {
    taken: (n) => {
      seen.push(n);
      return n === 'my-vm';
    },
  });
  assert.equal(seen[0], 'my-vm');
  assert.match(first, /^my-vm-[0-9a-f]{6}$/);
  assert.equal(first, `my-vm-${shortHash('My VM\u0000\u00001')}`);

  const taken = new Set(['my-vm', first]);
  const second = sanitizeVmName('My VM', { taken: (n) => taken.has(n) });
  assert.match(second, /^my-vm-[0-9a-f]{6}$/);
  assert.notEqual(second, first);
  assert.equal(sanitizeVmName('My VM', { taken: (n) => taken.has(n) }), second, 'deterministic');

  // Different source names that sanitize alike ("my_vm" vs "My VM") get different suffixes.
  assert.notEqual(sanitizeVmName('my_vm', { taken: (n) => n === 'my-vm' }), first);

  // Two imports of one source (salted with their UIDs) get different candidates.
  const a = sanitizeVmName('My VM', { taken: (n) => n === 'my-vm', salt: 'uid-a' });
  const b = sanitizeVmName('My VM', { taken: (n) => n === 'my-vm', salt: 'uid-b' });
  assert.notEqual(a, b);
  assert.equal(a, `my-vm-${shortHash('My VM\u0000uid-a\u00001')}`);
});

test('sanitizeVmName: collision on a long name stays within 63', () => {
  const long = 'z'.repeat(80);
  const plain = sanitizeVmName(long);
  const other = sanitizeVmName(long, { taken: (n) => n === plain });
  assert.notEqual(other, plain);
  assert.equal(other.length, 63);
  assert.ok(isDnsLabel(other));
});

test('sanitizeVmName: gives up with an actionable error when every candidate is taken', () => {
  assert.throws(() => sanitizeVmName('x', { taken: () => true }), /spec\.targetName/);
});

test('labelValue: valid values are unchanged', () => {
  for (const v of ['', 'a', 'My_Import.v1', 'vm-import-x-disk-0', 'A'.repeat(63)]) {
    assert.equal(labelValue(v), v);
  }
});

test('labelValue: invalid or long values become valid and hash-suffixed', () => {
  const cases = [
    'has space',
    '-leading',
    'trailing.',
    'a/b',
    'x'.repeat(64),
    'ümlaut',
    '@@@',
    'vm-import-' + 'n'.repeat(60) + '-disk-0',
  ];
  const results = new Set<string>();
  for (const v of cases) {
    const l = labelValue(v);
    assert.ok(isLabelValue(l), `${v} → ${l}`);
    assert.ok(l.length <= 63);
    assert.ok(l.endsWith(shortHash(v)), `${v} → ${l}`);
    results.add(l);
  }
  assert.equal(results.size, cases.length);
  assert.equal(labelValue('has space'), `has-space-${shortHash('has space')}`);
  assert.equal(labelValue('@@@'), shortHash('@@@'));
  assert.notEqual(labelValue('a b'), labelValue('a/b'));
});

test('dnsName: valid joins are used as they are', () => {
  assert.equal(dnsName(['my-import', 'export']), 'my-import-export');
  assert.equal(dnsName(['a', 'b', 'c']), 'a-b-c');
});

test('dnsName: invalid or long joins keep the role suffix and get a hash', () => {
  const dotted = dnsName(['my.import', 'export']);
  assert.match(dotted, /^my-import-[0-9a-f]{6}-export$/);
  assert.notEqual(dotted, dnsName(['my-import', 'export']));

  const longImport = 'i'.repeat(80);
  const job = dnsName([longImport, 'export']);
  const svc = dnsName([longImport, 'disks']);
  assert.equal(job.length, 63);
  assert.ok(isDnsLabel(job) && isDnsLabel(svc));
  assert.ok(job.endsWith('-export') && svc.endsWith('-disks'));
  assert.notEqual(job, svc);
  assert.equal(dnsName([longImport, 'export']), job, 'deterministic');
});

test('dnsName: a custom max and a long last part', () => {
  const n = dnsName(['abc', 'x'.repeat(40)], 20);
  assert.ok(n.length <= 20 && isDnsLabel(n), n);
  assert.throws(() => dnsName(['a'], 5), RangeError);
});

test('dnsName: startWithLetter makes RFC 1035 names for Services', () => {
  assert.equal(dnsName(['web', 'disks'], 63, { startWithLetter: true }), 'web-disks');
  assert.equal(dnsName(['1web', 'disks'], 63, { startWithLetter: true }), 'x-1web-disks');
  const long = dnsName(['9' + 'w'.repeat(70), 'disks'], 63, { startWithLetter: true });
  assert.ok(long.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
  assert.ok(long.endsWith('-disks'));
});

test('imageDisplayName: upstream shape within label limits', () => {
  assert.equal(imageDisplayName('alpine', 0), 'vm-import-alpine-disk-0');
  const long = imageDisplayName('a'.repeat(60), 12);
  assert.ok(isLabelValue(long) && long.length <= 63, long);
  assert.ok(long.endsWith('-disk-12'));
  assert.notEqual(imageDisplayName('a'.repeat(60), 1), imageDisplayName('a'.repeat(60), 2));
  const withUid = imageDisplayName('alpine', 0, { importUid: '6f0c1b6e-1111-2222-3333-444455556666' });
  assert.match(withUid, /^vm-import-alpine-[0-9a-f]{5}-disk-0$/);
  assert.notEqual(withUid, imageDisplayName('alpine', 0, { importUid: 'another-uid' }));
});

test('imageDisplayName: each resubmission of a disk gets its own display name (Harvester refuses a duplicate while the old image is still there)', () => {
  const uid = '6f0c1b6e-1111-2222-3333-444455556666';
  const first = imageDisplayName('alpine', 0, { importUid: uid, attempt: 1 });
  assert.equal(first, imageDisplayName('alpine', 0, { importUid: uid }), 'attempt 1 keeps the plain name');
  const second = imageDisplayName('alpine', 0, { importUid: uid, attempt: 2 });
  assert.match(second, /^vm-import-alpine-[0-9a-f]{5}-disk-0-a2$/);
  assert.notEqual(second, imageDisplayName('alpine', 0, { importUid: uid, attempt: 3 }));
  const long = imageDisplayName('a'.repeat(70), 3, { importUid: uid, attempt: 12 });
  assert.ok(isLabelValue(long) && long.length <= 63, long);
  assert.ok(long.endsWith('-a12'), long);
  assert.notEqual(long, imageDisplayName('a'.repeat(70), 3, { importUid: uid, attempt: 11 }));
});
