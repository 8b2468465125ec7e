// csi-sanity (kubernetes-csi/csi-test, installed by scripts/setup) against the
// plugin. csi-sanity has no ephemeral mode: every volume-bearing test first
// calls CreateVolume, so the plugin runs with its test-only Controller service,
// which "creates" volumes whose parameters become volume_context, as kubelet
// passes volumeAttributes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../helpers/mount.ts';
import { forceCleanup, mountsBeneath, startMounter, startPlugin, stopMounter, stopPlugin, type MounterProcess } from '../helpers/csi.ts';

const CSI_SANITY = join(ROOT, '.tools/bin/csi-sanity');

interface Spec {
  State: string;
  ContainerHierarchyTexts: string[] | null;
  LeafNodeText: string;
  Failure?: { Message: string };
}

function specName(s: Spec): string {
  return [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' / ');
}

async function sanity(mode: 'hidden' | 'advertised', daemons: 'direct' | 'mounter'): Promise<Spec[]> {
  const base = tempDir(`sanity-${mode}`);
  const stateDir = join(base, 'state');
  mkdirSync(stateDir);
  const params = join(base, 'params.yaml');
  writeFileSync(params, 'backend: memory\nsize: 16MiB\ncsi.storage.k8s.io/ephemeral: "true"\n');
  const report = join(base, 'report.json');
  let mounter: MounterProcess | undefined;
  let plugin: Awaited<ReturnType<typeof startPlugin>> | undefined;
  let out = '';
  try {
    if (daemons === 'mounter') mounter = await startMounter(join(base, 'run', 'mounter.sock'));
    plugin = await startPlugin(stateDir, ['--test-controller', mode, ...(mounter ? ['--mounter-socket', mounter.socket] : [])]);
    const child = spawn(
      CSI_SANITY,
      [
        `--csi.endpoint=unix://${plugin.socket}`,
        `--csi.mountdir=${join(base, 'mnt')}`,
        `--csi.stagingdir=${join(base, 'stage')}`,
        `--csi.testvolumeparameters=${params}`,
        `--ginkgo.json-report=${report}`,
        '--ginkgo.no-color',
        '--ginkgo.timeout=5m',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.ok(existsSync(report), `csi-sanity wrote no report (status ${code}):\n${out.slice(-4000)}`);
    const specs = (JSON.parse(readFileSync(report, 'utf8')) as { SpecReports: Spec[] }[])[0].SpecReports;
    const failed = specs.filter((s) => s.State === 'failed' || s.State === 'panicked');
    assert.deepEqual(
      failed.map((s) => `${specName(s)}: ${s.Failure?.Message ?? ''}`),
      [],
      `plugin log:\n${plugin.log().slice(-4000)}${mounter ? `\nmounter log:\n${mounter.log().slice(-2000)}` : ''}`,
    );
    assert.equal(code, 0, out.slice(-4000));
    assert.deepEqual(mountsBeneath(base), [], 'csi-sanity left nothing mounted');
    if (mounter) assert.match(mounter.log(), /"msg":"volume daemon started"/, "the plugin's volumes ran under the mounter");
    return specs;
  } finally {
    if (plugin) await stopPlugin(plugin);
    if (mounter) await stopMounter(mounter);
    await forceCleanup(base, stateDir);
    rmSync(base, { recursive: true, force: true });
  }
}

const passed = (specs: Spec[]): string[] => specs.filter((s) => s.State === 'passed').map(specName);

test('csi-sanity is installed (scripts/setup installs it with go install)', () => {
  assert.ok(existsSync(CSI_SANITY), `${CSI_SANITY} is missing: run scripts/setup`);
});

// Both ways of running daemons: spawned by the plugin (the CLI, local use)
// and handed to a mounter (the chart).
for (const daemons of ['mounter', 'direct'] as const) {
  test(`csi-sanity passes against the node-only plugin, daemons ${daemons === 'mounter' ? 'run by a mounter as deployed' : 'spawned by the plugin'} (test controller served, not advertised)`, async () => {
    const ran = passed(await sanity('hidden', daemons));
    for (const must of [
      'Identity Service / GetPluginInfo / should return appropriate information',
      'Node Service / NodePublishVolume / should fail when no volume capability is provided',
      'Node Service / NodeUnpublishVolume / should remove target path',
      'Node Service / NodeGetVolumeStats / should fail when volume does not exist on the specified path',
      'Node Service / NodeGetVolumeHealth / should return health for a valid volume',
    ]) {
      assert.ok(ran.includes(must), `expected "${must}" to run and pass; passed: ${ran.join('\n')}`);
    }
  });

  test(`csi-sanity end-to-end node tests pass with the test controller advertised, daemons ${daemons === 'mounter' ? 'run by a mounter' : 'spawned by the plugin'}`, async () => {
    const ran = passed(await sanity('advertised', daemons));
    assert.ok(ran.includes('Node Service / should work'), ran.join('\n'));
    assert.ok(ran.includes('Node Service / should be idempotent'), ran.join('\n'));
  });
}
