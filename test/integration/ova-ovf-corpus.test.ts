// Every OVF descriptor of the fixture corpus that ships in the govmomi Go module (exports from
// vSphere, ovftool, VMware Studio and appliance vendors, plus ovftool's own positive and negative
// test files) through parseOvfDescriptor. The module is the one local-cluster/simulators/vcsim/go.mod pins;
// it is read from the Go module cache (downloaded with `go mod download` when missing), never
// committed here. A vApp is parsed once per VM it holds, selected by virtualMachineName.
import assert from 'node:assert/strict';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { execa } from 'execa';
import { parseOvfDescriptor } from '../../functions/shared/sources/ova/ovf-descriptor.ts';
import { normalizeOvf09 } from '../../functions/shared/sources/ova/ovf09.ts';
import { attr, descendantsNamed, parseXmlTree } from '../../functions/shared/sources/ova/xml-tree.ts';
import { SourceError } from '../../functions/shared/sources/source-error.ts';

const VCSIM_DIR = fileURLToPath(new URL('../../local-cluster/simulators/vcsim/', import.meta.url));
const MODULE = 'github.com/vmware/govmomi';

/**
 * Descriptors that parse (a vApp counts once when at least one of its VMs parses). Raise it when
 * the parser learns more; it must never go down. Measured on govmomi v0.56.0's 958 descriptors.
 */
const PARSED_AT_LEAST = 463;

/** Reasons a descriptor may be refused with; anything else (or a non-SourceError) is a bug. */
const REASONS = new Set(['InvalidOvf', 'UnsupportedOva', 'VirtualMachineNotFound']);

/** The module cache's spelling of a module path: upper-case letters become "!" + lower case. */
const escapePath = (p: string) => p.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);

async function fixturesDir(): Promise<string> {
  const goMod = await readFile(join(VCSIM_DIR, 'go.mod'), 'utf8');
  const version = new RegExp(`^\\s*(?:require\\s+)?${MODULE.replaceAll('.', '\\.')}\\s+(v\\S+)`, 'm').exec(
    goMod,
  )?.[1];
  assert.ok(version, `go.mod pins no ${MODULE}`);
  const cache = (await execa('go', ['env', 'GOMODCACHE'])).stdout.trim();
  const dir = join(cache, `${escapePath(MODULE)}@${version}`, 'ovf', 'fixtures');
  const present = await access(dir).then(
    () => true,
    () => false,
  );
  if (!present) await execa('go', ['mod', 'download', MODULE], { cwd: VCSIM_DIR });
  return dir;
}

async function* ovfFiles(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* ovfFiles(path);
    else if (e.name.endsWith('.ovf')) yield path;
  }
}

/** ovf:ids of the VirtualSystems of a vApp descriptor (empty when it is not one or not XML). */
function vappVmIds(xml: string): string[] {
  try {
    const root = parseXmlTree(xml);
    return descendantsNamed(normalizeOvf09(root, root.ns), 'VirtualSystem')
      .map((s) => attr(s, 'id'))
      .filter((id): id is string => id !== undefined);
  } catch {
    return [];
  }
}

interface Outcome {
  parsed: boolean;
  /** `reason: message` with names and numbers blanked, for the counts. */
  rejection?: string;
}

function parseOne(xml: string, virtualMachineName?: string): Outcome {
  try {
    parseOvfDescriptor(xml, virtualMachineName === undefined ? {} : { virtualMachineName });
    return { parsed: true };
  } catch (e) {
    assert.ok(e instanceof SourceError, `not a SourceError: ${(e as Error).stack}`);
    assert.ok(REASONS.has(e.reason), `unexpected reason ${e.reason}: ${e.message}`);
    assert.ok(e.message.length > 20, `a bare message: ${e.message}`);
    const shape = e.message
      .replace(/"[^"]*"/g, '"…"')
      .replace(/\d+/g, 'N')
      .slice(0, 90);
    return { parsed: false, rejection: `${e.reason}: ${shape}` };
  }
}

describe('the govmomi OVF fixture corpus', () => {
  let dir: string;
  before(async () => {
    dir = await fixturesDir();
  });

  it('parses at least the committed count; every rejection has a named reason', async (t) => {
    let total = 0;
    let parsed = 0;
    let vappVms = 0;
    const rejections = new Map<string, number>();
    for await (const file of ovfFiles(dir)) {
      total++;
      const xml = await readFile(file, 'utf8');
      let outcome = parseOne(xml);
      if (outcome.rejection?.startsWith('VirtualMachineNotFound')) {
        // A vApp: each of its VMs, the way one import per VM selects it.
        const outcomes = vappVmIds(xml).map((id) => parseOne(xml, id));
        vappVms += outcomes.filter((o) => o.parsed).length;
        outcome = outcomes.find((o) => o.parsed) ?? outcomes[0] ?? outcome;
      }
      if (outcome.parsed) parsed++;
      else rejections.set(outcome.rejection!, (rejections.get(outcome.rejection!) ?? 0) + 1);
    }
    t.diagnostic(`${total} descriptors, ${parsed} parse (${vappVms} VMs of vApps parse)`);
    for (const [what, n] of [...rejections].sort((a, b) => b[1] - a[1])) t.diagnostic(`${n} × ${what}`);
    assert.ok(total >= 900, `only ${total} descriptors found under ${dir}`);
    assert.ok(parsed >= PARSED_AT_LEAST, `${parsed} parse, fewer than the committed ${PARSED_AT_LEAST}`);
  });
});
