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
