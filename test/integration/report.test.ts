// The access-pattern report of a real workload, checked against what the
// workload is known to do: an untar of a tarball made here (N files of known
// sizes) and a sqlite3 run of K transactions with synchronous=FULL, traced
// through a mount with --trace-file and --cache direct. Then --live against a
// running mount whose trace filter records only fsyncs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Report } from '../../src/report/analyse.ts';
import { parseTraceText } from '../../src/report/read.ts';
import { CLI, NODE, withMount, withTempDir, writeConfig } from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';

const N = 60;
const K = 25;
const sizeOf = (i: number): number => 1000 + i * 2371; // 1 KB to ~140 KB, mostly not block multiples

function report(args: string[]): { report: Report; stdout: string } {
  const r = run(NODE, [CLI, 'report', ...args]);
  assert.equal(r.status, 0, r.stderr);
  const json = args[args.indexOf('--json') + 1];
  return { report: JSON.parse(readFileSync(json, 'utf8')) as Report, stdout: r.stdout };
}

test('report of an untar and a sqlite run matches what they did', async () => {
  await withTempDir('report', async (dir) => {
    // The tarball: N files of known sizes in two directories.
    const src = join(dir, 'src');
    let total = 0;
    for (let i = 0; i < N; i++) {
      const sub = join(src, i % 2 ? 'odd' : 'even');
      mkdirSync(sub, { recursive: true });
      const size = sizeOf(i);
      total += size;
      writeFileSync(join(sub, `file-${i}.bin`), Buffer.alloc(size, i));
    }
    sh(`tar -cf ${join(dir, 'known.tar')} -C ${src} .`);
    const sql = ['PRAGMA synchronous=FULL;', 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);'];
    for (let k = 0; k < K; k++) sql.push(`BEGIN; INSERT INTO t(v) VALUES ('${'v'.repeat(200)}${k}'); COMMIT;`);

    const cfg = writeConfig(dir, {
      layers: [{ fault: { rules: [{ name: 'tmp-full', ops: ['write'], paths: ['**/*.tmp'], errno: 'ENOSPC' }] } }],
    });
    const trace = join(dir, 'trace.jsonl');
    // The daemon stops when withMount returns, which flushes the spans still queued.
    await withMount(['--backend', 'memory:512MiB', '--config', cfg, '--cache', 'direct', '--trace-file', trace], async (mnt) => {
      sh(`mkdir untar db && tar -xf ${join(dir, 'known.tar')} -C untar`, { cwd: mnt });
      sh('sqlite3 db/app.db', { cwd: mnt, input: sql.join('\n') });
      assert.equal(sh("sqlite3 db/app.db 'select count(*) from t'", { cwd: mnt }).trim(), String(K));
      sh('(echo x > scratch.tmp) 2>/dev/null && exit 9 || true', { cwd: mnt });
    });

    const json = join(dir, 'report.json');
    const html = join(dir, 'report.html');
    const { report: r, stdout } = report([trace, '--json', json, '--html', html, '--top', '500']);
    for (const s of ['Operation mix', 'Hottest files', 'Latency per operation', 'fsync']) assert.match(stdout, new RegExp(s));

    // Files created: the N of the tarball, the database, and sqlite's rollback journal per write transaction.
    assert.ok(r.totals.filesCreated >= N + 1 + K, `files created: ${r.totals.filesCreated}`);
    assert.ok(r.totals.filesCreated <= N + 1 + 2 * (K + 1) + 1, `files created: ${r.totals.filesCreated}`);
    assert.ok(r.totals.directoriesCreated >= 4, 'untar, db, even, odd');
    const untarFiles = r.hottestFiles.filter((f) => /^\/untar\/(odd|even)\/file-\d+\.bin$/.test(f.path));
    assert.equal(untarFiles.length, N, 'every file of the tarball appears');
    assert.equal(
      untarFiles.reduce((a, f) => a + f.bytesWritten, 0),
      total,
      "the tarball's bytes, each written once",
    );
    assert.ok(r.readWrite.bytesWritten >= total, `bytes written ${r.readWrite.bytesWritten} >= ${total}`);

    // fsync: synchronous=FULL syncs at least once per commit.
    assert.ok(r.fsync.fsyncs >= K, `fsyncs ${r.fsync.fsyncs} >= ${K}`);
    assert.ok(r.fsync.perSecond! > 0 && r.fsync.perWrittenMiB! > 0);
    assert.ok(r.fsync.files.some((f) => f.path.startsWith('/db/app.db')));

    // The database is among the hottest files.
    const hottest = r.hottestFiles.slice(0, 5).map((f) => f.path);
    assert.ok(hottest.includes('/db/app.db'), `hottest: ${hottest.join(', ')}`);

    // The untar writes files front to back.
    const seq = r.sequential.files.filter((f) => f.path.startsWith('/untar/'));
    const s = seq.reduce((a, f) => a + f.write.sequential, 0);
    const all = seq.reduce((a, f) => a + f.write.sequential + f.write.random, 0);
    assert.ok(all >= N && s / all >= 0.95, `untar writes sequential: ${s} of ${all}`);

    // Processes, latency, errors.
    const commands = new Set(r.processes.map((p) => p.command));
    assert.ok(commands.has('tar') && commands.has('sqlite3'), [...commands].join(', '));
    const tar = r.processes.find((p) => p.command === 'tar')!;
    assert.equal(tar.bytesWritten, total);
    for (const op of ['write', 'fsync', 'create']) {
      const l = r.latency.find((x) => x.op === op);
      assert.ok(l && l.count > 0 && l.p50Us <= l.p90Us && l.p90Us <= l.p99Us && l.p99Us <= l.maxUs, `${op}: ${JSON.stringify(l)}`);
    }
    assert.deepEqual(
      r.injected.map((i) => [i.rule, i.count, i.results]),
      [['tmp-full', 1, { ENOSPC: 1 }]],
    );
    assert.ok(r.errors.some((e) => e.op === 'write' && e.result === 'ENOSPC' && e.injected === 1));
    const mix = Object.fromEntries(r.opMix.map((m) => [m.op, m.count]));
    assert.ok(mix.write > N && mix.fsync >= K && mix.create >= N);

    const page = readFileSync(html, 'utf8');
    assert.match(page, /<svg /);
    assert.ok(page.includes('/db/app.db'));
    assert.ok(statSync(html).size < 2_000_000);
  });
});

test('report --live records a running mount, then puts its trace filter back', async () => {
  await withTempDir('live', async (dir) => {
    const cfg = writeConfig(dir, { layers: [{ trace: { ops: ['fsync'] } }] });
    const trace = join(dir, 'trace.jsonl');
    await withMount(['--backend', 'memory', '--config', cfg, '--cache', 'direct', '--trace-file', trace], async (mnt) => {
      let child: ChildProcess | undefined;
      try {
        const json = join(dir, 'live.json');
        const c = spawn(NODE, [CLI, 'report', '--live', mnt, '--duration', '3s', '--json', json, '-q'], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        child = c;
        let stderr = '';
        c.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
        const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
        let done = false;
        void exited.then(() => (done = true));
        // A workload that runs for as long as the recording does.
        let i = 0;
        while (!done) {
          writeFileSync(join(mnt, `w${i++ % 20}`), 'x'.repeat(1000));
          await sleep(20);
        }
        assert.equal(await exited, 0, stderr);
        const r = JSON.parse(readFileSync(json, 'utf8')) as Report;
        assert.match(r.source, /^live /);
        assert.ok(r.readWrite.writes > 20, `writes recorded while live: ${r.readWrite.writes}`);
        assert.ok(r.processes.some((p) => p.pid === process.pid));

        // The configured filter (fsync only) is back.
        const before = existsSync(trace) ? readFileSync(trace).length : 0;
        sh('echo after > after && sync after', { cwd: mnt });
        await sleep(1500);
        const ops = parseTraceText(readFileSync(trace).subarray(before).toString('utf8'));
        assert.ok(ops.length > 0 && ops.every((o) => o.op === 'fsync'), JSON.stringify(ops.map((o) => o.op)));
      } finally {
        if (child && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await new Promise((r) => child!.once('exit', r));
        }
      }
    });
  });

  // Without a trace file, --live says what it needs.
  await withMount(['--backend', 'memory'], async (plain) => {
    const no = run(NODE, [CLI, 'report', '--live', plain, '--duration', '1s']);
    assert.equal(no.status, 2);
    assert.match(no.stderr, /has no trace file: .*--trace-file/);
  });
});

test('report says what is wrong with a trace file it cannot use, and with where it cannot write', async () => {
  await withTempDir('report-input', async (dir) => {
    const notSpans = join(dir, 'notes.txt');
    writeFileSync(notSpans, 'a line\nanother\n');
    const spans = join(dir, 'spans.jsonl');
    writeFileSync(spans, '');
    const cases: Array<[string[], RegExp]> = [
      [[join(dir, 'missing.jsonl')], /^interposer: trace file .*missing\.jsonl does not exist; record one with/],
      [[dir], /^interposer: cannot read trace file .*: EISDIR; expected a file written by --trace-file\n$/],
      [[notSpans], /^interposer: .*notes\.txt holds no spans \(2 lines that are not spans\); expected a file written by --trace-file\n$/],
      [[spans, '--html', join(dir, 'no/such/dir/r.html')], /^interposer: --html .*r\.html: cannot write it: ENOENT\n$/],
    ];
    for (const [args, expected] of cases) {
      const r = run(NODE, [CLI, 'report', ...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expected);
    }
  });
});
