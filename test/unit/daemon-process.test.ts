// The Node flags and environment a daemon needs are written in three places:
// cli/daemon-process.ts (daemons the CSI plugin and the bench start),
// bin/interposer (the CLI as users run it) and the container image. They must
// say the same, or one way of starting a daemon quietly gets more memory.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/cli/daemon-process.ts';

const ROOT = join(import.meta.dirname, '../..');

test('bin/interposer runs node with the daemon flags and sets the daemon environment', () => {
  const script = readFileSync(join(ROOT, 'bin/interposer'), 'utf8');
  const exec = script.split('\n').find((l) => l.startsWith('exec '));
  assert.ok(exec, 'bin/interposer ends in an exec of node');
  for (const flag of DAEMON_NODE_FLAGS) assert.ok(exec.split(' ').includes(flag), `bin/interposer passes ${flag}: ${exec}`);
  for (const [name, value] of Object.entries(DAEMON_ENV)) assert.match(script, new RegExp(`export ${name}=${value}\\n`));
});

test('the container image starts node with the daemon flags and environment', () => {
  const file = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8');
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(file);
  assert.ok(entry, 'the Containerfile has an exec-form ENTRYPOINT');
  const argv = JSON.parse(entry[1]) as string[];
  assert.equal(argv[0], 'node');
  assert.deepEqual(argv.slice(1, 1 + DAEMON_NODE_FLAGS.length), [...DAEMON_NODE_FLAGS]);
  for (const [name, value] of Object.entries(DAEMON_ENV)) assert.match(file, new RegExp(`^ENV ${name}=${value}$`, 'm'));
});
