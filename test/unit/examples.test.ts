// Every config under examples/configs validates: what users copy must work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.ts';

const dir = join(import.meta.dirname, '../../examples/configs');

test('every example config is valid', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 4);
  for (const f of files) {
    const config = loadConfigFile(join(dir, f));
    assert.ok(config.layers.length > 0, `${f} has layers`);
  }
});

/** `v` as JSON keeps it: no undefined-valued keys (JSON drops those, and nothing reads them differently). */
function withoutUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutUndefined);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (x === undefined ? [] : [[k, withoutUndefined(x)]])));
}

test('every example config, validated, survives JSON unchanged (the CSI plugin hands it to its daemon so)', () => {
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
    const config = loadConfigFile(join(dir, f));
    assert.deepEqual(JSON.parse(JSON.stringify(config)), withoutUndefined(config), f);
  }
});
