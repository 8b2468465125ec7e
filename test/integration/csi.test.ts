// The CSI node plugin driven exactly as kubelet drives it for an inline
// ephemeral volume: the real plugin process on a unix socket, a grpc-js client
// from the same csi.proto, kubelet's volume ids, target paths and
// volume_context keys, and workloads in their own mount namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status, type ServiceError } from '@grpc/grpc-js';
import { isAlive } from '../../src/csi/launcher.ts';
import { assertDaemonProcess, CLI, NODE, tempDir, waitFor, writeConfig } from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';
import {
  csiClient,
  forceCleanup,
  descendantsOf,
  inlineVolume,
  killWithDescendants,
  MOUNTER_CAPABILITIES,
  mountsBeneath,
  readState,
  startMounter,
  startPlugin,
  stopMounter,
  stopPlugin,
  type CsiClient,
  type MounterProcess,
  type PluginProcess,
} from '../helpers/csi.ts';

const POD = { uid: '5d1e2c4a-0b7e-4f55-9a31-2f6c1f0e9a11', name: 'db-0', namespace: 'team-a' };

interface Env {
  base: string;
  stateDir: string;
  kubelet: string;
  plugin: PluginProcess;
  node: CsiClient;
  identity: CsiClient;
  /** With `mounter: true`: the mounter the plugin hands its daemons to. */
  mounter?: MounterProcess;
  /** Starts the plugin again with the same flags (after the test stopped or killed it). */
  restartPlugin(): Promise<void>;
  /** Daemons seen during the test, for the last-resort cleanup. */
  seen: { pid: number; startTime: string }[];
}

interface PluginSetup {
  /** Extra plugin flags, given the test's base directory. */
  extra?: (base: string) => string[];
  /** Run a mounter (`interposer csi mounter`) and point the plugin at it, as the chart does. */
  mounter?: boolean;
}

/** Runs `fn` against a fresh plugin; unmounts, kills what it started (by PID) and removes its files in finally. */
async function withPlugin(fn: (e: Env) => Promise<void>, setup: PluginSetup = {}): Promise<void> {
  const base = tempDir('csi');
  const stateDir = join(base, 'state');
  const kubelet = join(base, 'kubelet');
  mkdirSync(stateDir, { recursive: true });
  const seen: Env['seen'] = [];
  let e: Env | undefined;
  let mounter: MounterProcess | undefined;
  try {
    const args = setup.extra?.(base) ?? [];
    if (setup.mounter) {
      mounter = await startMounter(join(base, 'run', 'mounter.sock'));
      args.push('--mounter-socket', mounter.socket);
    }
    const plugin = await startPlugin(stateDir, args);
    const env: Env = {
      base,
      stateDir,
      kubelet,
      plugin,
      node: csiClient(plugin.socket, 'Node'),
      identity: csiClient(plugin.socket, 'Identity'),
      mounter,
      seen,
      restartPlugin: async () => {
        env.node.close();
        env.identity.close();
        env.plugin = await startPlugin(stateDir, args);
        env.node = csiClient(env.plugin.socket, 'Node');
        env.identity = csiClient(env.plugin.socket, 'Identity');
      },
    };
    e = env;
    await fn(env);
    assert.deepEqual(mountsBeneath(base), [], 'nothing is left mounted');
  } catch (err) {
    if (e) process.stderr.write(`--- plugin log ---\n${e.plugin.log().slice(-6000)}\n`);
    if (e?.mounter) process.stderr.write(`--- mounter log ---\n${e.mounter.log().slice(-4000)}\n`);
    throw err;
  } finally {
    e?.node.close();
    e?.identity.close();
    if (e) await stopPlugin(e.plugin);
    // The test may have replaced the mounter; its daemons end with it.
    const m = e?.mounter ?? mounter;
    if (m) await stopMounter(m);
    await forceCleanup(base, stateDir, seen);
    rmSync(base, { recursive: true, force: true });
  }
}

async function rpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  assert.fail('expected the call to fail');
}

function daemonOf(e: Env, volumeId: string): { pid: number; startTime: string; mounter?: string } {
  const rec = readState(e.stateDir).volumes.find((v) => v.volumeId === volumeId);
  assert.ok(rec, `volume ${volumeId} is in the state file`);
  e.seen.push(rec.daemon);
  return rec.daemon;
}

// A workload that keeps a journal open and writes and re-reads files until told to stop.
const WORKLOAD = `
set -u
cd "$1"
exec 3>>journal
i=0
while [ ! -e "$2" ]; do
  i=$((i+1))
  printf 'record %d\\n' "$i" > "f.$((i % 20))" || { echo "write failed at $i"; exit 1; }
  [ "$(cat "f.$((i % 20))")" = "record $i" ] || { echo "read mismatch at $i"; exit 1; }
  echo "$i" >&3 || { echo "journal write failed at $i"; exit 1; }
  [ "$i" -lt 100000 ] || exit 3
done
echo "iterations $i"
`;

test('inline volume: kubelet-style publish, workload in its own mount namespace survives a plugin crash and restart', async () => {
  await withPlugin(async (e) => {
    const config = [
      'backend: { type: memory, size: 64MiB }',
      'mount: { cache: direct, attrTimeout: 0s }',
      'layers:',
      '  - fault: { seed: 1, rules: [ { ops: [write], paths: ["**/*.log"], errno: ENOSPC } ] }',
    ].join('\n');
    const v = inlineVolume(e.kubelet, POD, 'data', { 'interposer.dev/config': config });
    await e.node.NodePublishVolume(v.request);
    assert.deepEqual(mountsBeneath(e.base), [v.targetPath]);
    const rec = readState(e.stateDir).volumes[0];
    assert.deepEqual(rec.labels, { pod: 'db-0', namespace: 'team-a', podUid: POD.uid, serviceAccount: 'default', ephemeral: 'true' });
    const daemon = daemonOf(e, v.volumeId);
    assertDaemonProcess(daemon.pid);

    const stop = join(e.base, 'stop-workload');
    const workload = spawn('unshare', ['--mount', '--propagation', 'unchanged', 'sh', '-c', WORKLOAD, 'workload', v.targetPath, stop], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    workload.stdout.on('data', (d: Buffer) => (out += d.toString()));
    workload.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => workload.on('exit', (code) => r(code)));
    try {
      const journal = join(v.targetPath, 'journal');
      const lines = (): number => readFileSync(journal, 'utf8').split('\n').length - 1;
      await waitFor(() => existsSync(journal) && lines() > 50, 20000, 'the workload to get going');

      // The plugin crashes; its volume daemon and the mount are not its to lose.
      await stopPlugin(e.plugin, 'SIGKILL');
      const atCrash = lines();
      await sleep(300);
      assert.ok(lines() > atCrash, 'the workload kept writing while no plugin ran');
      assert.ok(isAlive(daemon), 'the volume daemon outlived the plugin');

      await e.restartPlugin();
      assert.match(e.plugin.log(), /volume still serving/);
      // kubelet may publish again after a plugin restart: same arguments → OK, nothing remounted.
      await e.node.NodePublishVolume(v.request);
      assert.equal(daemonOf(e, v.volumeId).pid, daemon.pid);
      const health = await e.node.NodeGetVolumeHealth({ volume_id: v.volumeId, volume_publish_path: v.targetPath });
      assert.deepEqual((health.volume_health as { health_statuses: unknown[] }).health_statuses, []);
      const stats = await e.node.NodeGetVolumeStats({ volume_id: v.volumeId, volume_path: v.targetPath });
      const bytes = (stats.usage as { unit: string; total: string }[]).find((u) => u.unit === 'BYTES');
      assert.equal(Number(bytes?.total), 64 * 1024 * 1024, 'statfs reports the configured size cap');

      const afterRestart = lines();
      await waitFor(() => lines() > afterRestart + 50, 20000, 'the workload to go on after the restart');
      writeFileSync(stop, '');
      assert.equal(await exited, 0, `workload failed:\n${out}`);
      const iterations = Number(/iterations (\d+)/.exec(out)?.[1]);
      assert.equal(lines(), iterations, 'every journal line written through the restart is there');
    } finally {
      writeFileSync(stop, '');
      if (workload.exitCode === null && workload.signalCode === null) workload.kill('SIGKILL');
      await exited;
    }

    // The configured effects, seen from another mount namespace: the fault layer
    // fails writes to *.log, and the memory backend's cap holds.
    const log = run('unshare', [
      '--mount',
      '--propagation',
      'unchanged',
      'sh',
      '-c',
      'dd if=/dev/zero of="$1/app.log" bs=4k count=1',
      'sh',
      v.targetPath,
    ]);
    assert.notEqual(log.status, 0);
    assert.match(log.stderr, /No space left on device/);
    const dd = run('dd', ['if=/dev/zero', `of=${join(v.targetPath, 'big')}`, 'bs=1M', 'count=80']);
    assert.notEqual(dd.status, 0);
    assert.match(dd.stderr, /No space left on device/);

    await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
    assert.equal(existsSync(v.targetPath), false, 'the target directory is removed');
    assert.deepEqual(mountsBeneath(e.base), []);
    await waitFor(() => !isAlive(daemon), 5000, 'the volume daemon to exit');
    assert.deepEqual(readState(e.stateDir).volumes, []);
  });
});

test('a killed volume daemon is reported unhealthy and unpublish still cleans up', async () => {
  await withPlugin(async (e) => {
    const v = inlineVolume(e.kubelet, POD, 'scratch', { backend: 'scratch' });
    await e.node.NodePublishVolume(v.request);
    writeFileSync(join(v.targetPath, 'file'), 'data');
    const rec = readState(e.stateDir).volumes[0];
    assert.ok(rec.scratchDir && existsSync(join(rec.scratchDir, 'file')), 'scratch data lives under the state dir');
    const daemon = daemonOf(e, v.volumeId);

    process.kill(daemon.pid, 'SIGKILL');
    await waitFor(() => !isAlive(daemon), 5000, 'the daemon to die');
    assert.deepEqual(mountsBeneath(e.base), [v.targetPath], 'a dead FUSE mount is left behind');

    const health = await e.node.NodeGetVolumeHealth({ volume_id: v.volumeId, volume_publish_path: v.targetPath });
    const statuses = (health.volume_health as { health_statuses: { status: string; message: string }[] }).health_statuses;
    assert.equal(statuses[0]?.status, 'INACCESSIBLE');
    assert.match(statuses[0].message, /not running/);
    const stats = await e.node.NodeGetVolumeStats({ volume_id: v.volumeId, volume_path: v.targetPath });
    assert.deepEqual(stats.usage, []);

    await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
    assert.deepEqual(mountsBeneath(e.base), []);
    assert.equal(existsSync(v.targetPath), false);
    assert.equal(existsSync(rec.scratchDir), false, 'the scratch directory is deleted');
    // Unpublish again, and of a volume never seen: OK (kubelet would retry NOT_FOUND forever).
    await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
    await e.node.NodeUnpublishVolume({
      volume_id: 'csi-unknown',
      target_path: join(e.kubelet, 'pods/x/volumes/kubernetes.io~csi/y/mount'),
    });
  });
});

for (const mounter of [false, true]) {
  test(`a volume's daemon answers ctl: its config shown, new layers checked and installed (${mounter ? 'mounter' : 'direct'} mode)`, async () => {
    // The plugin hands each daemon its config already validated, so the daemon's first validation is this ctl set.
    await withPlugin(
      async (e) => {
        const v = inlineVolume(e.kubelet, POD, 'ctl', { backend: 'memory' });
        await e.node.NodePublishVolume(v.request);
        const cmdline = readFileSync(`/proc/${daemonOf(e, v.volumeId).pid}/cmdline`, 'utf8').split('\0');
        assert.ok(cmdline.includes('--validated-json'), `the daemon is handed its config validated: ${cmdline.join(' ')}`);
        const ctl = (...args: string[]) => run(NODE, [CLI, 'ctl', ...args]);
        const show = ctl('show', v.targetPath);
        assert.equal(show.status, 0, show.stderr);
        const shown = JSON.parse(show.stdout) as { config: { backend: { type: string }; mount: { allowOther: boolean } } };
        assert.equal(shown.config.backend.type, 'memory');
        assert.equal(shown.config.mount.allowOther, true, 'the node setting the plugin added');
        assert.equal(sh(`echo a > ${v.targetPath}/f && cat ${v.targetPath}/f`), 'a\n');

        const dir = join(e.base, 'ctl');
        mkdirSync(dir);
        const bad = ctl('set', v.targetPath, writeConfig(dir, 'layers:\n  - fault: { rules: [ { ops: [write], errno: ENOSPACE } ] }\n'));
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /"ENOSPACE" is not an errno; did you mean ENOSPC\?/);
        const set = ctl('set', v.targetPath, writeConfig(dir, 'layers:\n  - fault: { rules: [ { ops: [write], errno: ENOSPC } ] }\n'));
        assert.equal(set.status, 0, set.stderr);
        assert.throws(() => writeFileSync(join(v.targetPath, 'f'), 'b'), { code: 'ENOSPC' });
        await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
      },
      { mounter },
    );
  });
}

test('publish is idempotent, conflicting publishes fail, concurrent ones are ABORTED', async () => {
  await withPlugin(async (e) => {
    const v = inlineVolume(e.kubelet, POD, 'idem', { backend: 'null' });
    const [a, b] = await Promise.allSettled([e.node.NodePublishVolume(v.request), e.node.NodePublishVolume(v.request)]);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'rejected');
    assert.equal(((b as PromiseRejectedResult).reason as ServiceError).code, status.ABORTED);
    await e.node.NodePublishVolume(v.request);
    daemonOf(e, v.volumeId);

    const different = { ...v.request, volume_context: { ...(v.request.volume_context as object), backend: 'memory' } };
    assert.equal((await rpcError(e.node.NodePublishVolume(different))).code, status.ALREADY_EXISTS);
    const elsewhere = inlineVolume(e.kubelet, { ...POD, uid: 'other' }, 'idem', {});
    const moved = { ...v.request, target_path: elsewhere.targetPath };
    assert.equal((await rpcError(e.node.NodePublishVolume(moved))).code, status.FAILED_PRECONDITION);

    await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
    assert.equal(existsSync(v.targetPath), false);
  });
});

test('invalid requests and volumeAttributes fail with INVALID_ARGUMENT before anything is mounted', async () => {
  const allowed = (base: string): string => join(base, 'allowed');
  await withPlugin(
    async (e) => {
      const v = inlineVolume(e.kubelet, POD, 'bad', {});
      const cases: [string, Record<string, unknown>, RegExp][] = [
        ['no volume id', { ...v.request, volume_id: '' }, /volume_id is required/],
        ['no target path', { ...v.request, target_path: '' }, /target_path is required/],
        ['no capability', { ...v.request, volume_capability: null }, /volume_capability is required/],
        [
          'block access',
          { ...v.request, volume_capability: { block: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } } },
          /block volumes are not supported/,
        ],
        ['unknown attribute', ctx(v, { bakend: 'memory' }), /unknown attribute "bakend"/],
        [
          'unknown backend',
          ctx(v, { backend: 'disk' }),
          /backend "disk" is not supported; expected one of memory, null, scratch, hostPath/,
        ],
        ['bad size', ctx(v, { size: 'lots' }), /"lots" is not a size/],
        ['bad YAML', ctx(v, { 'interposer.dev/config': 'backend: [' }), /interposer.dev\/config is not valid YAML/],
        [
          'bad field',
          ctx(v, { 'interposer.dev/config': 'mount: { cache: sometimes }' }),
          /mount.cache: "sometimes" is not allowed; expected one of auto, direct, keep/,
        ],
        ['host path outside the roots', ctx(v, { hostPath: '/etc' }), /host path \/etc refused: it is not beneath an allowed root/],
        [
          'host path via config',
          ctx(v, { 'interposer.dev/config': 'backend: { type: passthrough, path: /root }' }),
          /host path \/root refused/,
        ],
        ['memory above the limit', ctx(v, { size: '2GiB' }), /memory backend of 2048 MiB is above this node's limit of 512 MiB/],
        [
          "a host path holding the volume's own target",
          ctx(v, { hostPath: e.kubelet }),
          /mountpoint .* is inside the directory it would mirror, .*kubelet: the daemon would reach its own mount through it and hang/,
        ],
      ];
      for (const [name, req, message] of cases) {
        const err = await rpcError(e.node.NodePublishVolume(req));
        assert.equal(err.code, status.INVALID_ARGUMENT, `${name}: ${err.details}`);
        assert.match(err.details, message, name);
        assert.equal(existsSync(v.targetPath), false, `${name}: no target directory was created`);
      }
      assert.equal((await rpcError(e.node.NodeUnpublishVolume({ target_path: v.targetPath }))).code, status.INVALID_ARGUMENT);
      assert.equal((await rpcError(e.node.NodeUnpublishVolume({ volume_id: v.volumeId }))).code, status.INVALID_ARGUMENT);

      // Beneath the allow-listed root, a host path is mirrored.
      mkdirSync(join(allowed(e.base), 'shared'), { recursive: true });
      writeFileSync(join(allowed(e.base), 'shared', 'hello'), 'from the host');
      const h = inlineVolume(e.kubelet, POD, 'host', { hostPath: join(allowed(e.base), 'shared') });
      await e.node.NodePublishVolume(h.request);
      daemonOf(e, h.volumeId);
      assert.equal(readFileSync(join(h.targetPath, 'hello'), 'utf8'), 'from the host');
      await e.node.NodeUnpublishVolume({ volume_id: h.volumeId, target_path: h.targetPath });
      assert.deepEqual(readdirSync(join(allowed(e.base), 'shared')), ['hello'], 'unpublish leaves host data alone');
    },
    {
      extra: (base) => {
        mkdirSync(allowed(base), { recursive: true });
        mkdirSync(join(base, 'kubelet'), { recursive: true });
        // The kubelet directory too: a pod may name a host directory that holds its own volume's target.
        return ['--host-root', allowed(base), '--host-root', join(base, 'kubelet'), '--max-memory-size', '512MiB'];
      },
    },
  );
});

function ctx(v: ReturnType<typeof inlineVolume>, attrs: Record<string, string>): Record<string, unknown> {
  return { ...v.request, volume_context: { ...(v.request.volume_context as object), ...attrs } };
}

/** A free loopback port: bind port 0, read it, let it go. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

test('one metrics endpoint per node gathers every volume with namespace, pod and volume labels', async () => {
  const port = await freePort();
  await withPlugin(
    async (e) => {
      const config =
        'layers: [ { fault: { rules: [ { name: no-logs, ops: [write], paths: ["**/*.log"], errno: ENOSPC } ] } } ]\nmount: { cache: direct }';
      const a = inlineVolume(e.kubelet, POD, 'data', { 'interposer.dev/config': config });
      const b = inlineVolume(e.kubelet, { ...POD, uid: '0a5c0c38-1111-4e0f-8d64-9d0d5f0c2b77', name: 'web-1' }, 'cache', {
        backend: 'memory',
      });
      await e.node.NodePublishVolume(a.request);
      await e.node.NodePublishVolume(b.request);
      writeFileSync(join(a.targetPath, 'x'), 'data');
      writeFileSync(join(b.targetPath, 'y'), 'data');
      assert.throws(() => writeFileSync(join(a.targetPath, 'app.log'), 'line'), /ENOSPC/);
      // The plugin added a metrics layer reporting through the control socket: a rule added at run time is checked against that.
      const added = run(NODE, [
        CLI,
        'ctl',
        'add-rule',
        a.targetPath,
        'fault',
        '{ name: no-tmp, ops: [write], paths: ["**/*.tmp"], errno: EIO }',
      ]);
      assert.equal(added.status, 0, added.stderr);
      assert.throws(() => writeFileSync(join(a.targetPath, 'scratch.tmp'), 'line'), /EIO/);

      const text = await scrape(port);
      const samples = text.split('\n').filter((l) => l.startsWith('interposer_operations_total{'));
      assert.ok(
        samples.some((l) => /volume="data"/.test(l) && /namespace="team-a"/.test(l) && /pod="db-0"/.test(l)),
        text.slice(0, 2000),
      );
      assert.ok(samples.some((l) => /volume="cache"/.test(l) && /pod="web-1"/.test(l)));
      assert.match(text, /interposer_faults_injected_total\{[^}]*rule="no-logs"[^}]*\} 1/);
      assert.equal(text.match(/^# TYPE interposer_operations_total /gm)?.length, 1, 'each family appears once');
      assert.doesNotMatch(text, /path="\//, 'no path label');
      assert.match(text, /interposer_csi_volume_up\{volume="data",namespace="team-a",pod="db-0"\} 1/);
      assert.ok(
        text
          .split('\n')
          .some(
            (l) =>
              l.startsWith('interposer_metrics_layers{') && l.includes('data="observe"') && l.includes('volume="data"') && l.endsWith(' 1'),
          ),
        'metrics count data by default',
      );

      // A dead daemon shows as down; the other volume keeps reporting.
      const daemon = daemonOf(e, a.volumeId);
      process.kill(daemon.pid, 'SIGKILL');
      await waitFor(() => !isAlive(daemon), 5000, 'the daemon to die');
      const after = await scrape(port);
      assert.match(after, /interposer_csi_volume_up\{volume="data",namespace="team-a",pod="db-0"\} 0/);
      assert.ok(after.split('\n').some((l) => l.startsWith('interposer_operations_total{') && /volume="cache"/.test(l)));

      await e.node.NodeUnpublishVolume({ volume_id: a.volumeId, target_path: a.targetPath });
      await e.node.NodeUnpublishVolume({ volume_id: b.volumeId, target_path: b.targetPath });
    },
    { extra: () => ['--metrics', `127.0.0.1:${port}`] },
  );
});

/** The workload above, started in its own mount namespace on `target`; `lines` counts its journal. */
function startWorkload(target: string, stopFile: string): { lines(): number; finish(): Promise<{ code: number | null; out: string }> } {
  const workload = spawn('unshare', ['--mount', '--propagation', 'unchanged', 'sh', '-c', WORKLOAD, 'workload', target, stopFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  workload.stdout.on('data', (d: Buffer) => (out += d.toString()));
  workload.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => workload.on('exit', (code) => r(code)));
  const journal = join(target, 'journal');
  return {
    lines: () => (existsSync(journal) ? readFileSync(journal, 'utf8').split('\n').length - 1 : 0),
    finish: async () => {
      writeFileSync(stopFile, '');
      const settled = await Promise.race([exited, sleep(20000).then(() => 'timeout' as const)]);
      if (settled === 'timeout') {
        workload.kill('SIGKILL');
        return { code: await exited, out: `${out}\n(killed: did not stop within 20s)` };
      }
      return { code: settled, out };
    },
  };
}

function healthOf(res: Record<string, unknown>): { status: string; message: string }[] {
  return (res.volume_health as { health_statuses: { status: string; message: string }[] }).health_statuses;
}

test('with a mounter, a plugin killed with all its descendants (a container restart) leaves the volume serving', async () => {
  await withPlugin(
    async (e) => {
      const v = inlineVolume(e.kubelet, POD, 'data', {
        'interposer.dev/config': 'backend: { type: memory, size: 64MiB }\nmount: { cache: direct }',
      });
      await e.node.NodePublishVolume(v.request);
      const daemon = daemonOf(e, v.volumeId);
      assert.equal(typeof daemon.mounter, 'string', 'the record names the mounter instance that runs the daemon');
      assert.ok(descendantsOf(e.mounter!.pid).includes(daemon.pid), "the daemon is the mounter's child");
      assert.ok(!descendantsOf(e.plugin.child.pid!).includes(daemon.pid), 'the daemon is not in the plugin process tree');

      const work = startWorkload(v.targetPath, join(e.base, 'stop-workload'));
      try {
        await waitFor(() => work.lines() > 50, 20000, 'the workload to get going');
        const killed = await killWithDescendants(e.plugin);
        assert.ok(!killed.includes(daemon.pid));
        const atKill = work.lines();
        await waitFor(() => work.lines() > atKill + 50, 20000, 'the workload to go on with no plugin running');
        assert.ok(isAlive(daemon), 'the volume daemon outlived the plugin and its descendants');

        await e.restartPlugin();
        assert.match(e.plugin.log(), /volume still serving/);
        assert.deepEqual(healthOf(await e.node.NodeGetVolumeHealth({ volume_id: v.volumeId, volume_publish_path: v.targetPath })), []);
        const stats = await e.node.NodeGetVolumeStats({ volume_id: v.volumeId, volume_path: v.targetPath });
        const bytes = (stats.usage as { unit: string; total: string }[]).find((u) => u.unit === 'BYTES');
        assert.equal(Number(bytes?.total), 64 * 1024 * 1024, 'statfs is answered by the daemon that survived');
        await e.node.NodePublishVolume(v.request); // kubelet may publish again: same arguments, nothing relaunched
        assert.equal(daemonOf(e, v.volumeId).pid, daemon.pid);

        const afterRestart = work.lines();
        await waitFor(() => work.lines() > afterRestart + 50, 20000, 'the workload to go on after the restart');
      } finally {
        const { code, out } = await work.finish();
        assert.equal(code, 0, `workload failed:\n${out}`);
        assert.equal(work.lines(), Number(/iterations (\d+)/.exec(out)?.[1]), 'every journal line written through the kill is there');
      }

      await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
      assert.equal(existsSync(v.targetPath), false, 'the target directory is removed');
      assert.deepEqual(mountsBeneath(e.base), []);
      await waitFor(() => !isAlive(daemon), 5000, 'the volume daemon to exit');
      assert.match(
        e.mounter!.log(),
        new RegExp(`"daemon":${daemon.pid},[^\\n]*"msg":"volume daemon exited"`),
        'the mounter reaped and logged it',
      );
      assert.deepEqual(readState(e.stateDir).volumes, []);
    },
    { mounter: true },
  );
});

test('without a mounter, the same kill takes the daemons along: the restarted plugin reports the volume dead and unpublish cleans up', async () => {
  await withPlugin(async (e) => {
    const v = inlineVolume(e.kubelet, POD, 'data', { backend: 'memory' });
    await e.node.NodePublishVolume(v.request);
    const daemon = daemonOf(e, v.volumeId);
    assert.equal(daemon.mounter, undefined);
    // Detached into its own session, the daemon still descends from the plugin, as it shares its container.
    assert.ok((await killWithDescendants(e.plugin)).includes(daemon.pid));
    await waitFor(() => !isAlive(daemon), 5000, 'the daemon to die');

    await e.restartPlugin();
    assert.match(e.plugin.log(), /volume unhealthy after restart/);
    const statuses = healthOf(await e.node.NodeGetVolumeHealth({ volume_id: v.volumeId, volume_publish_path: v.targetPath }));
    assert.equal(statuses[0]?.status, 'INACCESSIBLE');
    await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
    assert.deepEqual(mountsBeneath(e.base), []);
    assert.equal(existsSync(v.targetPath), false);
  });
});

test('with a mounter, a killed daemon is reported, the node metrics still gather every daemon, unpublish cleans up', async () => {
  const port = await freePort();
  await withPlugin(
    async (e) => {
      const a = inlineVolume(e.kubelet, POD, 'scratch', { backend: 'scratch' });
      const b = inlineVolume(e.kubelet, { ...POD, uid: '0a5c0c38-1111-4e0f-8d64-9d0d5f0c2b77', name: 'web-1' }, 'cache', {
        backend: 'memory',
      });
      await e.node.NodePublishVolume(a.request);
      await e.node.NodePublishVolume(b.request);
      writeFileSync(join(a.targetPath, 'file'), 'data');
      writeFileSync(join(b.targetPath, 'file'), 'data');
      const scratchDir = readState(e.stateDir).volumes.find((r) => r.volumeId === a.volumeId)?.scratchDir;
      assert.ok(scratchDir && existsSync(join(scratchDir, 'file')));

      const before = await scrape(port);
      assert.match(before, /^interposer_csi_mounter_up 1$/m);
      const kernelMode = (l: string): boolean =>
        l.startsWith('interposer_metrics_layers{') && l.includes('data="kernel"') && l.includes('volume="cache"') && l.endsWith(' 1');
      assert.ok(before.split('\n').some(kernelMode), '--metrics-data kernel reached the volumes');
      for (const volume of ['scratch', 'cache']) {
        assert.match(before, new RegExp(`interposer_csi_volume_up\\{volume="${volume}"[^}]*\\} 1`));
        assert.ok(
          before.split('\n').some((l) => l.startsWith('interposer_operations_total{') && l.includes(`volume="${volume}"`)),
          `the daemon of ${volume}, run by the mounter, is scraped`,
        );
      }

      const daemon = daemonOf(e, a.volumeId);
      process.kill(daemon.pid, 'SIGKILL');
      await waitFor(() => !isAlive(daemon), 5000, 'the daemon to die');
      const reaped = new RegExp(`"daemon":${daemon.pid},[^\\n]*"signal":"SIGKILL"[^\\n]*"msg":"volume daemon exited"`);
      await waitFor(() => reaped.test(e.mounter!.log()), 5000, 'the mounter to reap the daemon and log how it ended');
      assert.deepEqual(mountsBeneath(e.base).sort(), [a.targetPath, b.targetPath].sort(), 'a dead FUSE mount is left behind');
      const statuses = healthOf(await e.node.NodeGetVolumeHealth({ volume_id: a.volumeId, volume_publish_path: a.targetPath }));
      assert.equal(statuses[0]?.status, 'INACCESSIBLE');
      assert.match(statuses[0].message, new RegExp(`daemon \\(pid ${daemon.pid}\\) is not running \\(killed by SIGKILL\\)`));
      assert.deepEqual((await e.node.NodeGetVolumeStats({ volume_id: a.volumeId, volume_path: a.targetPath })).usage, []);
      assert.deepEqual(healthOf(await e.node.NodeGetVolumeHealth({ volume_id: b.volumeId, volume_publish_path: b.targetPath })), []);

      const after = await scrape(port);
      assert.match(after, /interposer_csi_volume_up\{volume="scratch"[^}]*\} 0/);
      assert.match(after, /interposer_csi_volume_up\{volume="cache"[^}]*\} 1/);

      await e.node.NodeUnpublishVolume({ volume_id: a.volumeId, target_path: a.targetPath });
      assert.equal(existsSync(a.targetPath), false);
      assert.equal(existsSync(scratchDir), false, 'the scratch directory is deleted');
      await e.node.NodeUnpublishVolume({ volume_id: b.volumeId, target_path: b.targetPath });
      assert.deepEqual(mountsBeneath(e.base), []);
    },
    { mounter: true, extra: () => ['--metrics', `127.0.0.1:${port}`, '--metrics-data', 'kernel'] },
  );
});

test('a mounter that dies takes its daemons along: the volumes read as dead, unpublish cleans up, a new mounter takes new volumes', async () => {
  await withPlugin(
    async (e) => {
      const v = inlineVolume(e.kubelet, POD, 'data', { backend: 'memory' });
      await e.node.NodePublishVolume(v.request);
      const daemon = daemonOf(e, v.volumeId);

      await stopMounter(e.mounter!, 'SIGKILL');
      await waitFor(() => !isAlive(daemon), 10000, 'the daemon to end with its mounter');
      assert.deepEqual(mountsBeneath(e.base), [v.targetPath], 'its mount is left dead, not unmounted beneath the workload');
      let statuses = healthOf(await e.node.NodeGetVolumeHealth({ volume_id: v.volumeId, volume_publish_path: v.targetPath }));
      assert.equal(statuses[0]?.status, 'INACCESSIBLE');
      assert.match(statuses[0].message, /the mounter at .* is not reachable/);

      e.mounter = await startMounter(e.mounter!.socket);
      statuses = healthOf(await e.node.NodeGetVolumeHealth({ volume_id: v.volumeId, volume_publish_path: v.targetPath }));
      assert.match(statuses[0]?.message ?? '', /the mounter that ran it has restarted/);

      await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
      assert.deepEqual(mountsBeneath(e.base), []);
      assert.equal(existsSync(v.targetPath), false);

      const w = inlineVolume(e.kubelet, { ...POD, uid: '7f7e2a55-2222-4c3b-9a1d-3e2f1a0b9c88' }, 'data', { backend: 'memory' });
      await e.node.NodePublishVolume(w.request);
      writeFileSync(join(w.targetPath, 'file'), 'served by the new mounter');
      assert.ok(descendantsOf(e.mounter.pid).includes(daemonOf(e, w.volumeId).pid));
      await e.node.NodeUnpublishVolume({ volume_id: w.volumeId, target_path: w.targetPath });
      assert.deepEqual(readState(e.stateDir).volumes, []);
    },
    { mounter: true },
  );
});

/** Bit numbers from linux/capability.h of the capabilities the chart grants the mounter. */
const CAPABILITY_BITS: Record<string, number> = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, FSETID: 4, MKNOD: 27 };

/** The effective capability set of a process (CapEff in /proc/PID/status). */
function effectiveCapabilities(pid: number): bigint {
  return BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0'}`);
}

function capabilityMask(names: string[]): bigint {
  return names.reduce((m, n) => m | (1n << BigInt(CAPABILITY_BITS[n] ?? assert.fail(`no bit known for ${n}`))), 0n);
}

test("a mounter with only the chart's capabilities serves a scratch volume to pod users of any uid", async () => {
  await withPlugin(
    async (e) => {
      const v = inlineVolume(e.kubelet, POD, 'scratch', { backend: 'scratch' });
      await e.node.NodePublishVolume(v.request);
      const daemon = daemonOf(e, v.volumeId);
      assert.equal(
        effectiveCapabilities(daemon.pid),
        capabilityMask(MOUNTER_CAPABILITIES),
        'the daemon has exactly the granted capabilities',
      );
      const scratchDir = readState(e.stateDir).volumes[0].scratchDir!;

      // A pod user: creates, restricts, renames, links, removes (cwd is set before the uid drops: the kubelet path is 0750).
      sh('mkdir d && echo one > d/f && chmod 600 d/f && cat d/f && mv d/f d/g && ln -s g d/l && mkfifo d/p && rm d/p && echo two > d/t', {
        cwd: v.targetPath,
        uid: 1000,
        gid: 1000,
      });
      assert.match(
        run('cat', ['d/g'], { cwd: v.targetPath, uid: 2000, gid: 2000 }).stderr,
        /Permission denied/,
        'the kernel still checks permissions',
      );
      // Pod root: reads another user's private file, gives it away, sets its times, makes a device node.
      assert.equal(readFileSync(join(v.targetPath, 'd/g'), 'utf8'), 'one\n');
      sh('chown 3000:3000 d/g && touch -d 2001-02-03T04:05:06Z d/t && chmod g+s d && mknod d/null c 1 3', { cwd: v.targetPath });
      const backing = run('stat', ['-c', '%u:%g %a', join(scratchDir, 'd/g'), join(scratchDir, 'd/t'), join(scratchDir, 'd')])
        .stdout.trim()
        .split('\n');
      assert.deepEqual(
        backing,
        ['3000:3000 600', '1000:1000 644', '1000:1000 2755'],
        "the backing files carry the callers' owners and modes",
      );
      assert.equal(run('stat', ['-c', '%t:%T', join(scratchDir, 'd/null')]).stdout.trim(), '1:3');

      await e.node.NodeUnpublishVolume({ volume_id: v.volumeId, target_path: v.targetPath });
      assert.equal(existsSync(scratchDir), false);
    },
    { mounter: true },
  );
});
