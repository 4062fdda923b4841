// The build defers packages that a dependency loads at start but uses only for an option we never
// set (build.ts LAZY_DEPENDENCIES), and bundles one axios for `require` and `import` alike: bundled
// that way, each option still gets the real package the moment it is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { bundle, PROJECT_ROOT } from '../../build.ts';

const ENTRY = `
import { generateKeyPairSync } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { SignedXml } from 'xml-crypto';
import { WSSecurityCert, HttpClient } from 'soap';
import { NtlmClient } from 'axios-ntlm';
import axios from 'axios';
import FormData from 'form-data';
import getRawBody from 'raw-body';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const cert = new WSSecurityCert(privateKey.export({ type: 'pkcs8', format: 'pem' }), 'CERT', '');
const soapRequest = new HttpClient()._request;
const ntlm = NtlmClient({ username: 'u', password: 'p', domain: 'd' });
const form = new FormData();
form.append('file', Buffer.from('{}'), { filename: 'disk.json' });
const latin1 = new PassThrough();
latin1.end(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
console.log(JSON.stringify({
  signer: cert.signer instanceof SignedXml,
  // Two copies of axios would have two InterceptorManager classes.
  soapAxios: soapRequest?.interceptors?.request?.constructor === axios.create().interceptors.request.constructor,
  ntlm: typeof ntlm.get === 'function',
  formPart: form.getBuffer().toString(),
  latin1: await getRawBody(latin1, { encoding: 'latin1' }),
}));
`;

test('packages the build loads on first use still work; require and import share one axios', async () => {
  const dir = await mkdtemp(join(PROJECT_ROOT, 'test', '.build-lazy-'));
  try {
    await writeFile(join(dir, 'entry.mjs'), ENTRY);
    const info = await bundle([join(dir, 'entry.mjs')], join(dir, 'out'));
    const inputs = Object.keys(info.inputs);
    assert.ok(inputs.includes('node_modules/axios/index.js'), 'the ES module of axios is bundled');
    assert.ok(
      !inputs.some((f) => f.startsWith('node_modules/axios/dist/')),
      `axios's CommonJS build is not bundled too: ${inputs.filter((f) => f.startsWith('node_modules/axios/dist/')).join(', ')}`,
    );
    const r = await execa(process.execPath, [join(dir, 'out', relative(PROJECT_ROOT, dir), 'entry.mjs')]);
    const got = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(got.signer, true, "WSSecurityCert signs with xml-crypto's SignedXml");
    assert.equal(got.soapAxios, true, "node-soap's own HTTP client is an instance of the bundled axios");
    assert.equal(got.ntlm, true, 'NtlmClient makes an axios client');
    assert.match(String(got.formPart), /Content-Type: application\/json/, 'form-data still types a file');
    assert.equal(got.latin1, 'café', 'raw-body still decodes a non-UTF-8 charset');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
