// volumeAttributes → volume configuration, without a mount: the shorthand
// keys, the errors a pod author sees, and every example in examples/k8s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { status } from '@grpc/grpc-js';
import { parseAttributes, resolveHostRoots, type AttributePolicy } from '../../src/csi/attributes.ts';
import { CsiError } from '../../src/csi/errors.ts';

const NONE: AttributePolicy = { hostRoots: [] };
const EXAMPLES = resolve(import.meta.dirname, '../../examples/k8s');

function rejects(ctx: Record<string, string>, message: RegExp, policy = NONE): void {
  assert.throws(
    () => parseAttributes(ctx, policy),
    (err: unknown) => err instanceof CsiError && err.code === status.INVALID_ARGUMENT && message.test(err.message),
  );
}

test('no attributes: a 1GiB memory backend; podInfoOnMount keys become labels, tokens never', () => {
  const s = parseAttributes(
    {
      'csi.storage.k8s.io/pod.name': 'p',
      'csi.storage.k8s.io/pod.namespace': 'ns',
      'csi.storage.k8s.io/ephemeral': 'true',
      'csi.storage.k8s.io/serviceAccount.tokens': '{"secret":"x"}',
    },
    NONE,
  );
  assert.deepEqual(s.config.backend, { type: 'memory', size: 1024 ** 3 });
  assert.equal(s.scratch, false);
  assert.deepEqual(s.labels, { pod: 'p', namespace: 'ns', ephemeral: 'true' });
});

test('shorthand keys', () => {
  assert.deepEqual(parseAttributes({ backend: 'memory', size: '64MiB' }, NONE).config.backend, { type: 'memory', size: 64 * 1024 ** 2 });
  assert.deepEqual(parseAttributes({ size: '1MiB' }, NONE).config.backend, { type: 'memory', size: 1024 ** 2 });
  assert.equal(parseAttributes({ backend: 'null' }, NONE).config.backend.type, 'null');
  assert.equal(parseAttributes({ backend: 'scratch' }, NONE).scratch, true);
  assert.equal(parseAttributes({ 'interposer.dev/config': 'backend: { type: scratch }' }, NONE).scratch, true);
  // Shorthand overrides the inline config's backend.
  assert.equal(
    parseAttributes({ 'interposer.dev/config': 'backend: { type: null }', backend: 'memory' }, NONE).config.backend.type,
    'memory',
  );
});

test('errors name the attribute and what would be right', () => {
  rejects({ bakend: 'memory' }, /unknown attribute "bakend"; expected interposer.dev\/config \(inline YAML\) or backend, size, hostPath/);
  rejects({ backend: 'ssd' }, /backend "ssd" is not supported; expected one of memory, null, scratch, hostPath/);
  rejects({ backend: 'null', size: '1GiB' }, /size applies to the memory backend only/);
  rejects({ backend: 'hostPath' }, /backend hostPath needs the hostPath attribute/);
  rejects({ size: 'huge' }, /volumeAttributes: backend.size: "huge" is not a size/);
  rejects({ 'interposer.dev/config': '- a\n- b' }, /must be a YAML mapping/);
  rejects({ 'interposer.dev/config': 'mount: { cache: never }' }, /interposer.dev\/config: mount.cache: "never" is not allowed/);
  rejects({ 'interposer.dev/config': 'backend: { type: scratch, size: 1GiB }' }, /backend scratch takes no options/);
  rejects({ 'interposer.dev/config': 'telemetry: { metrics: ":9464" }' }, /telemetry.metrics is set by the cluster administrator/);
  rejects({ 'interposer.dev/config': 'telemetry: { traces: { file: /etc/x } }' }, /telemetry.traces.file would write a file on the node/);
  rejects({ hostPath: '/srv' }, /this cluster allows no host paths/);
});

test('host paths only beneath an allowed root, symlinks resolved', () => {
  const dir = mkdtempSync(join(tmpdir(), 'interposer-attr-'));
  try {
    const policy: AttributePolicy = { hostRoots: resolveHostRoots([dir]) };
    assert.equal(parseAttributes({ hostPath: dir }, policy).config.backend.type, 'passthrough');
    const tuned = parseAttributes({ 'interposer.dev/config': `backend: { type: passthrough, path: ${dir}, prefetch: 0 }` }, policy);
    assert.deepEqual(
      tuned.doc.backend,
      { type: 'passthrough', path: realpathSync(dir), prefetch: 0 },
      "the daemon gets the backend's options too",
    );
    rejects({ hostPath: '/etc' }, /not beneath an allowed root/, policy);
    rejects({ hostPath: `${dir}/../` }, /not beneath an allowed root/, policy);
    rejects({ hostPath: 'relative' }, /must be absolute/, policy);
    rejects({ hostPath: join(dir, 'missing') }, /does not exist on this node/, policy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a trace layer gets the cluster OTLP collector when the config names no sink', () => {
  const ctx = { 'interposer.dev/config': 'layers: [ { trace: {} } ]' };
  rejects(ctx, /a trace layer needs a sink/);
  const s = parseAttributes(ctx, { hostRoots: [], otlpEndpoint: 'http://collector:4318' });
  assert.equal(s.config.telemetry.traces?.otlp, 'http://collector:4318');
});

test('every volume in examples/k8s is accepted', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 3);
  for (const f of files) {
    for (const doc of parseAllDocuments(readFileSync(join(EXAMPLES, f), 'utf8'))) {
      const o = doc.toJS() as { spec: { volumes?: V[]; template?: { spec: { volumes: V[] } } } };
      const volumes = o.spec.template?.spec.volumes ?? o.spec.volumes ?? [];
      for (const v of volumes.filter((x) => x.csi)) {
        assert.equal(v.csi!.driver, 'interposer.csi.dev', f);
        const s = parseAttributes(v.csi!.volumeAttributes, NONE);
        assert.ok(s.config.layers.length > 0, `${f}: the example configures a layer`);
      }
    }
  }
});

interface V {
  csi?: { driver: string; volumeAttributes: Record<string, string> };
}

test("the administrator's memory limit: a larger size is refused with the limit named; no size gets the limit", () => {
  const policy: AttributePolicy = { hostRoots: [], maxMemoryBytes: 256 * 1024 ** 2 };
  rejects({ size: '1GiB' }, /memory backend of 1024 MiB is above this node's limit of 256 MiB .*maxMemorySize/, policy);
  rejects({ 'interposer.dev/config': 'backend: { type: memory, size: 300MiB }' }, /above this node's limit of 256 MiB/, policy);
  assert.deepEqual(parseAttributes({ size: '128MiB' }, policy).config.backend, { type: 'memory', size: 128 * 1024 ** 2 });
  const defaulted = parseAttributes({}, policy);
  assert.deepEqual(defaulted.config.backend, { type: 'memory', size: 256 * 1024 ** 2 });
  assert.deepEqual(defaulted.doc.backend, { type: 'memory', size: 256 * 1024 ** 2 }, 'the daemon gets the capped size too');
  assert.equal(parseAttributes({ backend: 'scratch' }, policy).scratch, true, 'scratch volumes live on disk: no memory limit');
});
