// The Helm chart: `helm lint`, then `helm template` rendered and checked as
// objects — the CSIDriver kubelet needs for inline volumes, one socket shared
// by plugin, registrar and liveness probe, privileges and mount propagation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { DRIVER_NAME } from '../../src/csi/identity.ts';
import { socketPath } from '../../src/csi/server.ts';
import { ROOT } from '../helpers/mount.ts';
import { run } from '../helpers/run.ts';

const HELM = join(ROOT, '.tools/bin/helm');
const CHART = join(ROOT, 'deploy/helm/interposer');

interface Mount {
  name: string;
  mountPath: string;
  mountPropagation?: string;
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env?: { name: string; value?: string }[];
  securityContext?: { privileged?: boolean };
  volumeMounts: Mount[];
}
interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
}
interface K8sObject {
  kind: string;
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    volumeLifecycleModes?: string[];
    attachRequired?: boolean;
    podInfoOnMount?: boolean;
    template?: { metadata: { annotations?: Record<string, string> }; spec: { containers: Container[]; volumes: Volume[] } };
  };
}

function render(...sets: string[]): K8sObject[] {
  const r = run(HELM, [
    'template',
    'interposer',
    CHART,
    '--namespace',
    'kube-system',
    '--kube-version',
    '1.31.0',
    ...sets.flatMap((s) => ['--set', s]),
  ]);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject)
    .filter(Boolean);
}

function arg(c: Container, flag: string): string | undefined {
  return c.args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
}

/** The host path behind a container path, through the container's hostPath volume mounts. */
function hostPathOf(c: Container, volumes: Volume[], containerPath: string): string | undefined {
  for (const m of c.volumeMounts) {
    if (containerPath === m.mountPath || containerPath.startsWith(`${m.mountPath}/`)) {
      const v = volumes.find((x) => x.name === m.name)?.hostPath;
      if (v) return posix.join(v.path, posix.relative(m.mountPath, containerPath));
    }
  }
  return undefined;
}

test('helm is installed (scripts/setup installs it with go install)', () => {
  assert.ok(existsSync(HELM), `${HELM} is missing: run scripts/setup`);
});

test('helm lint passes', () => {
  const r = run(HELM, ['lint', CHART, '--strict', '--kube-version', '1.31.0']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('the CSIDriver allows inline ephemeral volumes, no attach, pod info on mount', () => {
  const drivers = render().filter((o) => o.kind === 'CSIDriver');
  assert.equal(drivers.length, 1);
  const d = drivers[0];
  assert.equal(d.metadata.name, DRIVER_NAME, 'the object is named as the plugin reports itself');
  assert.deepEqual(d.spec.volumeLifecycleModes, ['Ephemeral']);
  assert.equal(d.spec.attachRequired, false);
  assert.equal(d.spec.podInfoOnMount, true);
});

test('the DaemonSet: one socket for plugin, registrar and probe; privileged plugin; Bidirectional kubelet dir', () => {
  const objs = render('hostRoots={/srv/datasets}', 'otlpEndpoint=http://collector:4318', 'metrics.port=9999');
  const ds = objs.find((o) => o.kind === 'DaemonSet');
  assert.ok(ds?.spec.template);
  const { containers, volumes } = ds.spec.template.spec;
  const byName = (n: string): Container => {
    const c = containers.find((x) => x.name === n);
    assert.ok(c, `container ${n}`);
    return c;
  };
  const plugin = byName('plugin');
  const registrar = byName('node-driver-registrar');
  const probe = byName('liveness-probe');

  // The socket the plugin serves is the one the sidecars dial, on the same host directory...
  const served = socketPath(arg(plugin, '--endpoint')!);
  const pluginHost = hostPathOf(plugin, volumes, served);
  assert.ok(pluginHost, 'the plugin socket lives on a hostPath volume');
  assert.equal(hostPathOf(registrar, volumes, arg(registrar, '--csi-address')!), pluginHost);
  assert.equal(hostPathOf(probe, volumes, arg(probe, '--csi-address')!), pluginHost);
  // ...and the path the registrar gives kubelet is that host path.
  assert.equal(arg(registrar, '--kubelet-registration-path'), pluginHost);
  assert.equal(pluginHost, `/var/lib/kubelet/plugins/${DRIVER_NAME}/csi.sock`);
  assert.ok(
    registrar.volumeMounts.some(
      (m) => m.mountPath === '/registration' && hostPathOf(registrar, volumes, '/registration') === '/var/lib/kubelet/plugins_registry',
    ),
  );

  assert.equal(plugin.securityContext?.privileged, true);
  const kubelet = plugin.volumeMounts.find((m) => m.mountPath === '/var/lib/kubelet');
  assert.equal(kubelet?.mountPropagation, 'Bidirectional', 'mounts made by the plugin must reach kubelet and pods');
  assert.equal(hostPathOf(plugin, volumes, '/var/lib/kubelet'), '/var/lib/kubelet', 'target paths are host paths');
  assert.equal(hostPathOf(plugin, volumes, '/dev/fuse'), '/dev/fuse');
  for (const c of [registrar, probe]) assert.notEqual(c.securityContext?.privileged, true, `${c.name} needs no privileges`);

  // Values reach the plugin.
  assert.equal(arg(plugin, '--host-root'), '/srv/datasets');
  assert.equal(hostPathOf(plugin, volumes, '/srv/datasets'), '/srv/datasets');
  assert.equal(plugin.env?.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value, 'http://collector:4318');
  const ann = ds.spec.template.metadata.annotations ?? {};
  assert.equal(ann['prometheus.io/scrape'], 'true');
  assert.equal(ann['prometheus.io/port'], '9999');
});

test('imageRegistry prefixes every image; no host path root is exposed by default', () => {
  const ds = render('imageRegistry=mirror.example.test/k8s').find((o) => o.kind === 'DaemonSet')!;
  for (const c of ds.spec.template!.spec.containers) assert.match(c.image, /^mirror\.example\.test\/k8s\//, c.name);
  const plain = render().find((o) => o.kind === 'DaemonSet')!;
  const plugin = plain.spec.template!.spec.containers.find((c) => c.name === 'plugin')!;
  assert.equal(arg(plugin, '--host-root'), undefined);
});
