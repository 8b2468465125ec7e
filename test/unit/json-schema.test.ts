// The JSON Schema editors use: `interposer schema` prints it, docs/config.schema.json holds the same, and it
// describes configs as users write them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

test('`interposer schema` prints the JSON Schema that docs/config.schema.json holds', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'schema'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const committed = readFileSync(join(ROOT, 'docs/config.schema.json'), 'utf8');
  assert.equal(r.stdout, committed, 'docs/config.schema.json is stale: regenerate it with `interposer schema > docs/config.schema.json`');

  const schema = JSON.parse(r.stdout) as {
    $schema: string;
    additionalProperties: boolean;
    properties: Record<string, { items?: { properties?: Record<string, unknown> } }>;
  };
  assert.match(schema.$schema, /json-schema\.org/);
  assert.deepEqual(Object.keys(schema.properties).sort(), ['backend', 'layers', 'mount', 'telemetry']);
  assert.equal(schema.additionalProperties, false, 'unknown top-level keys are flagged, as validation does');
  // Human units are strings in the file, as users write them ("10MiB/s", "5ms").
  const throttle = JSON.stringify(schema.properties.layers);
  for (const layer of ['fault', 'latency', 'throttle', 'durability', 'metrics', 'trace']) assert.match(throttle, new RegExp(`"${layer}"`));
});
