// Metrics as an operator sees them: a real Prometheus (Debian's package)
// scrapes a live mount under a workload that reaches a fault layer and a
// throttle layer; then every PromQL expression of the Grafana dashboard is
// evaluated through Prometheus's HTTP API and must return data. Bytes moved by
// copy_file_range, and what the metrics layer's data modes (observe, kernel)
// count over a passthrough backend, are checked on the endpoint itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { ROOT, tempDir, withMount, writeConfig } from '../helpers/mount.ts';
import { freePort, py, sh, stopProcess } from '../helpers/run.ts';
import { scrape } from './layers-support.ts';

const PROMETHEUS = '/usr/bin/prometheus';
const DASHBOARD = join(ROOT, 'deploy/grafana/interposer-dashboard.json');
const SCRAPE = join(ROOT, 'deploy/prometheus/scrape.yaml');
const MiB = 1024 * 1024;

interface Prom {
  child: ChildProcess;
  url: string;
  exited: Promise<unknown>;
  log(): string;
}

/** Prometheus with the static job of deploy/prometheus/scrape.yaml pointed at `target`, scraping every second. */
async function startPrometheus(dir: string, target: string): Promise<Prom> {
  const example = parseYaml(readFileSync(SCRAPE, 'utf8')) as {
    scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> }>;
  };
  const job = example.scrape_configs.find((j) => j.static_configs);
  assert.ok(job, 'scrape.yaml has a static job');
  job.static_configs![0].targets = [target];
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    toYaml({ global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' }, scrape_configs: [job] }),
  );
  const port = await freePort();
  const logFile = join(dir, 'prometheus.log');
  const fd = openSync(logFile, 'w');
  const child = spawn(
    PROMETHEUS,
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const exited = new Promise((r) => child.on('exit', r));
  const url = `http://127.0.0.1:${port}`;
  const p: Prom = { child, url, exited, log: () => readFileSync(logFile, 'utf8') };
  let ready = false;
  const until = Date.now() + 30_000;
  while (!ready && Date.now() < until && child.exitCode === null) {
    ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (!ready) await sleep(200);
  }
  if (!ready) {
    await stopProcess(p.child, p.exited);
    throw new Error(`prometheus did not become ready:\n${p.log()}`);
  }
  return p;
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(p: Prom, expr: string): Promise<Sample[]> {
  const res = await fetch(`${p.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] | [number, string] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  const d = body.data!;
  // A scalar (e.g. vector(0)-only arithmetic) is one value without labels.
  return d.resultType === 'scalar' ? [{ metric: {}, value: d.result as [number, string] }] : (d.result as Sample[]);
}

async function value(p: Prom, expr: string): Promise<number> {
  const r = await query(p, expr);
  assert.equal(r.length, 1, `${expr} gives one series: ${JSON.stringify(r)}`);
  return Number(r[0].value[1]);
}

interface Dashboard {
  panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; type: string; query?: { query: string } }> };
}

/** What Grafana does to a query before sending it: template variables and its own interval variables. */
function substitute(expr: string, vars: Record<string, string>): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '5m')
    .replaceAll('$__interval', '15s')
    .replace(/\$\{?(\w+)\}?/g, (m, name: string) => vars[name] ?? m);
}

test('bytes moved by copy_file_range are counted as direction="copy", apart from reads and writes', async () => {
  const port = await freePort();
  await withMount(['--backend', 'memory', '--cache', 'direct', '--metrics', `127.0.0.1:${port}`, '--volume', 'copies'], async (mnt) => {
    const copied = py(
      `import os
with open('src', 'wb') as f: f.write(os.urandom(3 << 20))
def copy(dst, length, off_in):
    a = os.open('src', os.O_RDONLY)
    b = os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
    done = 0
    while done < length:
        n = os.copy_file_range(a, b, length - done, off_in + done, done)
        if n == 0: break
        done += n
    os.close(a); os.close(b)
    return done
print(copy('whole', 3 << 20, 0) + copy('part', 100000, 4096))`,
      { cwd: mnt },
    );
    assert.equal(Number(copied), 3 * MiB + 100000);
    const url = `http://127.0.0.1:${port}/metrics`;
    const ops = await scrape(url, 'interposer_operations_total');
    assert.ok(
      ops.some((s) => s.labels.op === 'copyFileRange' && s.labels.result === 'ok' && s.value > 0),
      'the copies reached the daemon as COPY_FILE_RANGE, not as reads and writes',
    );
    const bytes = Object.fromEntries((await scrape(url, 'interposer_bytes_total')).map((s) => [s.labels.direction, s.value]));
    assert.deepEqual(bytes, { write: 3 * MiB, copy: 3 * MiB + 100000 }, 'the copies are in copy, and not in read or write');
  });
});

test('data: kernel leaves reads and writes to kernel passthrough (not counted, opens and lookups are); data: observe counts them', async () => {
  const backing = tempDir('metrics-data');
  try {
    const content = randomBytes(MiB);
    writeFileSync(join(backing, 'big'), content);
    for (const data of ['kernel', 'observe'] as const) {
      const port = await freePort();
      const args = ['--backend', `passthrough:${backing}`, '--metrics', `127.0.0.1:${port}`, '--metrics-data', data, '--volume', data];
      await withMount(args, async (mnt) => {
        assert.ok(readFileSync(join(mnt, 'big')).equals(content), `${data}: the file reads back whole`);
        sh(`printf x > new-${data}`, { cwd: mnt });
        assert.equal(readFileSync(join(backing, `new-${data}`), 'utf8'), 'x');

        const url = `http://127.0.0.1:${port}/metrics`;
        const one = async (metric: string, labels: Record<string, string>): Promise<number | undefined> =>
          (await scrape(url, metric)).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
        const ops = async (op: string): Promise<number | undefined> => one('interposer_operations_total', { op, result: 'ok' });
        const bytes = async (direction: string): Promise<number | undefined> => one('interposer_bytes_total', { direction });
        const served = async (by: string): Promise<number | undefined> => one('interposer_files_opened_total', { served_by: by });
        assert.equal(await one('interposer_metrics_layers', { data }), 1, `the endpoint says the layer is in ${data} mode`);
        assert.equal(await one('interposer_metrics_layers', { data: data === 'kernel' ? 'observe' : 'kernel' }), 0);
        assert.ok(((await ops('open')) ?? 0) >= 1, `${data}: the open of big is counted`);
        assert.equal(await ops('create'), 1, `${data}: the create of new-${data} is counted`);
        assert.ok(((await ops('getattr')) ?? 0) >= 1, `${data}: lookups are counted`);
        assert.ok(((await ops('release')) ?? 0) >= 2, `${data}: closes are counted`);
        assert.equal(await ops('flush'), undefined, `${data}: files on a local filesystem are opened FOPEN_NOFLUSH: no FLUSH`);
        if (data === 'kernel') {
          assert.ok(((await served('passthrough')) ?? 0) >= 2, 'big and new-kernel were served by kernel passthrough');
          assert.equal(await served('daemon'), 0);
          assert.equal(await ops('read'), undefined, 'no read reached the daemon');
          assert.equal(await ops('write'), undefined, 'no write reached the daemon');
          assert.equal(await bytes('read'), undefined);
          assert.equal(await bytes('write'), undefined);
        } else {
          assert.equal(await served('passthrough'), 0);
          assert.ok(((await served('daemon')) ?? 0) >= 2);
          assert.ok(((await ops('read')) ?? 0) >= 1);
          assert.equal(await bytes('read'), MiB, 'every byte of big read through the daemon');
          assert.equal(await bytes('write'), 1);
        }
      });
    }
  } finally {
    rmSync(backing, { recursive: true, force: true });
  }
});

test('kernel passthrough: opens of one file share its backing id, the last close gives it back, and a later open passes through again', async () => {
  const backing = tempDir('metrics-backing');
  try {
    writeFileSync(join(backing, 'f'), 'abc');
    const port = await freePort();
    await withMount(['--backend', `passthrough:${backing}`, '--metrics', `127.0.0.1:${port}`, '--metrics-data', 'kernel'], async (mnt) => {
      const f = join(mnt, 'f');
      // Two opens at once (the second joins the first's backing id), a write through one seen through the
      // other, both closed; then a third open on its own.
      const out = py(`
import os
a = os.open(${JSON.stringify(f)}, os.O_RDWR)
b = os.open(${JSON.stringify(f)}, os.O_RDONLY)
os.pwrite(a, b'xyz', 3)
seen = os.pread(b, 6, 0)
os.close(a); os.close(b)
c = os.open(${JSON.stringify(f)}, os.O_RDONLY)
again = os.pread(c, 6, 0)
os.close(c)
print(seen.decode(), again.decode())
`);
      assert.equal(out, 'abcxyz abcxyz', 'each open reads what the others wrote');
      assert.equal(readFileSync(join(backing, 'f'), 'utf8'), 'abcxyz', 'the write reached the backing file');
      const served = (await scrape(`http://127.0.0.1:${port}/metrics`, 'interposer_files_opened_total')).filter((s) => s.labels.served_by);
      const count = (by: string): number => served.find((s) => s.labels.served_by === by)?.value ?? 0;
      assert.equal(count('passthrough'), 3, 'all three opens passed through, the third after the backing id was given back');
      assert.equal(count('daemon'), 0, 'none fell back to the daemon');
      // A backing id never given back keeps the file the first open registered (read-write) open in the
      // kernel; a write lease needs its taker to be the file's only writer, so it is refused until that
      // file is let go (the closes reach the daemon asynchronously: asked again for up to 5 s).
      const lease = py(`
import fcntl, os, time
fd = os.open(${JSON.stringify(join(backing, 'f'))}, os.O_RDWR)
for _ in range(100):
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        print('granted')
        break
    except OSError:
        time.sleep(0.05)
else:
    print('refused')
`);
      assert.equal(lease, 'granted', 'after the last close nothing else holds the backing file open for writing');
    });
  } finally {
    rmSync(backing, { recursive: true, force: true });
  }
});

test('a real Prometheus scrapes a live mount; every dashboard query returns data', async (t) => {
  assert.ok(existsSync(PROMETHEUS), `${PROMETHEUS} is missing: apt-get install prometheus (scripts/setup installs it)`);
  const dir = tempDir('prom');
  let prom: Prom | undefined;
  try {
    const metricsPort = await freePort();
    const cfg = writeConfig(dir, {
      mount: { cache: 'direct' },
      layers: [
        { metrics: {} },
        { fault: { seed: 7, rules: [{ name: 'log-full', ops: ['write'], paths: ['**/*.log'], errno: 'ENOSPC' }] } },
        {
          throttle: {
            write: '2MiB/s',
            burst: '256KiB',
            rules: [{ name: 'slow-reads', ops: ['read'], paths: ['slow/**'], read: '4MiB/s', burst: '128KiB' }],
          },
        },
      ],
      telemetry: { labels: { namespace: 'team-a', pod: 'trainer-0' } },
    });
    const args = [
      '--backend',
      'memory',
      '--config',
      cfg,
      '--metrics',
      `127.0.0.1:${metricsPort}`,
      '--volume',
      'data',
      '--trace-file',
      join(dir, 'trace.jsonl'),
    ];
    await withMount(args, async (mnt) => {
      prom = await startPrometheus(dir, `127.0.0.1:${metricsPort}`);
      // Prometheus applies new targets a few seconds after it starts: wait for a first scrape, so
      // the workload's counters rise between samples and rate() sees them.
      const scraped = Date.now() + 30_000;
      while ((await query(prom, 'up{job="interposer"} == 1').catch(() => [])).length === 0) {
        if (Date.now() > scraped) throw new Error(`prometheus never scraped 127.0.0.1:${metricsPort}:\n${prom.log()}`);
        await sleep(250);
      }
      sh(
        [
          'mkdir slow',
          'dd if=/dev/zero of=data.bin bs=64k count=64 status=none', // 4 MiB in 64 writes, throttled to 2 MiB/s
          'cat data.bin > /dev/null',
          'dd if=/dev/zero of=slow/s bs=64k count=8 status=none',
          'cat slow/s > /dev/null', // 512 KiB at 4 MiB/s through the slow-reads rule
          '(echo x > app.log) 2>/dev/null && exit 9 || true', // ENOSPC from the fault rule
          'ls nope 2>/dev/null || true',
        ].join(' && '),
        { cwd: mnt },
      );
      const endpoint = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.doesNotMatch(endpoint, /[{,]path="/, 'no metric carries a path label');
      assert.doesNotMatch(endpoint, /="\/[^"]*"/, 'no label value is a file path');

      // Wait until Prometheus has scraped the end of the workload (and a few more times, for rate()).
      const sel = 'volume="data"';
      const until = Date.now() + 30_000;
      while ((await query(prom, `interposer_bytes_total{${sel},direction="read"} == ${4.5 * MiB}`).catch(() => [])).length === 0) {
        if (Date.now() > until) throw new Error(`prometheus never scraped the workload:\n${prom.log()}`);
        await sleep(250);
      }
      await sleep(3000);

      await t.test('operation counts by op and result, bytes, faults, throttle waits', async () => {
        const ops = (op: string, result: string) => value(prom!, `interposer_operations_total{${sel},op="${op}",result="${result}"}`);
        assert.equal(await ops('write', 'ok'), 72, '64 + 8 writes of 64 KiB, one WRITE each with cache: direct');
        assert.equal(await ops('write', 'ENOSPC'), 1);
        assert.equal(await ops('create', 'ok'), 3);
        assert.equal(await ops('mkdir', 'ok'), 1);
        assert.ok((await ops('getattr', 'ENOENT')) >= 1);
        assert.equal(await value(prom!, `interposer_bytes_total{${sel},direction="write"}`), 4.5 * MiB);
        assert.equal(await value(prom!, `interposer_bytes_total{${sel},direction="read"}`), 4.5 * MiB);
        assert.equal(await value(prom!, `interposer_operation_duration_seconds_count{${sel},op="write"}`), 73);
        assert.equal(await value(prom!, `interposer_faults_injected_total{${sel},rule="log-full",kind="fault"}`), 1);
        assert.ok((await value(prom!, `interposer_faults_injected_total{${sel},rule="slow-reads",kind="throttle"}`)) >= 4);
        assert.ok((await value(prom!, `interposer_throttle_wait_seconds_total{${sel}}`)) > 1, 'writes waited about 2 s');
        assert.equal(await value(prom!, `interposer_files_opened_total{${sel},served_by="passthrough"}`), 0);
        assert.ok((await value(prom!, `interposer_files_opened_total{${sel},served_by="daemon"}`)) >= 5);
        assert.equal(await value(prom!, `interposer_metrics_layers{${sel},data="observe"}`), 1, 'the layer counts file data');
        assert.ok((await value(prom!, `interposer_spans_exported_total{${sel},sink="file"}`)) > 0);
        const k8s = await query(prom!, `interposer_operations_total{${sel},namespace="team-a",pod="trainer-0"}`);
        assert.ok(k8s.length > 0, 'namespace and pod labels reach Prometheus');
        const labels = (await (
          await fetch(`${prom!.url}/api/v1/labels?${new URLSearchParams({ 'match[]': '{__name__=~"interposer_.*"}' })}`)
        ).json()) as { data: string[] };
        assert.ok(labels.data.includes('op') && labels.data.includes('result') && labels.data.includes('volume'), labels.data.join(','));
        assert.ok(!labels.data.some((l) => /path/i.test(l)), `no path label: ${labels.data.join(',')}`);
      });

      await t.test('every dashboard expression returns data, for "All" and for one pod and volume', async () => {
        const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
        const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((tg) => ({ panel: p.title, expr: tg.expr })));
        assert.ok(exprs.length >= 15, `the dashboard has its queries (${exprs.length})`);
        const titles = dash.panels.map((p) => p.title).join(' | ');
        for (const want of [
          /Throughput/,
          /IOPS/,
          /Latency percentiles/,
          /Errors by errno/,
          /Injected faults/,
          /Throttle waits/,
          /passthrough vs daemon/,
          /per volume/i,
        ]) {
          assert.match(titles, want);
        }
        const all = { volume: '.*', namespace: '.*', pod: '.*', op: '.*' };
        const one = { volume: 'data', namespace: 'team-a', pod: 'trainer-0', op: '(read|write)' };
        for (const vars of [all, one]) {
          for (const { panel, expr } of exprs) {
            const q = substitute(expr, vars);
            assert.doesNotMatch(q, /\$/, `${panel}: every variable substituted in ${q}`);
            const r = await query(prom!, q);
            assert.ok(r.length > 0, `${panel}: ${q} returned no data`);
            assert.ok(
              r.some((s) => Number.isFinite(Number(s.value[1]))),
              `${panel}: ${q} returned only NaN: ${JSON.stringify(r)}`,
            );
          }
        }
        // Template variables: label_values(SELECTOR, LABEL) is what Grafana asks /api/v1/label/LABEL/values.
        for (const v of dash.templating.list.filter((x) => x.type === 'query')) {
          const m = /^label_values\((.*),\s*(\w+)\)$/.exec(v.query!.query);
          assert.ok(m, `variable ${v.name}: ${v.query!.query}`);
          const match = substitute(m[1], all);
          const res = (await (
            await fetch(`${prom!.url}/api/v1/label/${m[2]}/values?${new URLSearchParams({ 'match[]': match })}`)
          ).json()) as { data: string[] };
          const want: Record<string, string> = { volume: 'data', namespace: 'team-a', pod: 'trainer-0', op: 'write' };
          assert.ok(res.data.includes(want[v.name]), `variable ${v.name} offers ${want[v.name]}: ${res.data}`);
        }
      });
    });
  } finally {
    if (prom) await stopProcess(prom.child, prom.exited);
    rmSync(dir, { recursive: true, force: true });
  }
});
