// The bench's reading of the performance goals, from a made-up run whose every ratio is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRss, checkSpeed, renderGoals } from '../../bench/goals.ts';
import type { DaemonRound, Results, TargetInfo } from '../../bench/report.ts';

const MiB = 2 ** 20;

function daemonRound(peakMiB: number): DaemonRound {
  return {
    peakRss: peakMiB * MiB,
    rssAnon: NaN,
    rssFile: NaN,
    cpu: 1,
    workloadCpu: {},
    startRss: NaN,
    startMs: NaN,
    workloadPeakRss: {},
  };
}

function run(): Results {
  const target = (name: string, kind: TargetInfo['kind'], extra: Partial<TargetInfo> = {}): TargetInfo => ({
    name,
    kind,
    describe: name,
    ...extra,
  });
  return {
    targets: [
      target('native', 'native'),
      target('bindfs', 'bindfs'),
      target('passthrough', 'interposer'),
      target('metrics', 'interposer'),
      target('memory', 'interposer', { baseline: 'tmpfs', holdsData: true }),
    ],
    workloads: [],
    samples: {
      native: { 'seq-read-cold': [100, 100, 100], 'seq-write': [100, 100, 100] },
      bindfs: { 'open+read': [10, 10, 10], stat: [10, 10, 10], 'rand-read-4k': [100, 100, 100] },
      // seq-read-cold 0.95x in every round; seq-write has a round that failed (NaN), left out of the rounds' range.
      passthrough: { 'seq-read-cold': [95, 95, 95], 'open+read': [8, 12, 9], stat: [9, 10, 11], 'seq-write': [70, NaN, 75] },
      metrics: { 'rand-read-4k': [90, 80, 85] },
    },
    daemon: {
      passthrough: [daemonRound(90), daemonRound(95)],
      metrics: [daemonRound(99), daemonRound(101)],
      memory: [daemonRound(1200)],
    },
    errors: [],
  };
}

test('each goal is read off the medians, with the range of the rounds against the same rounds', () => {
  const checks = checkSpeed(run());
  const row = (target: string, metric: string) => {
    const c = checks.find((x) => x.goal.target === target && x.metric === metric);
    assert.ok(c, `a row for ${target} ${metric}`);
    return c;
  };
  const seq = row('passthrough', 'seq-read-cold');
  assert.equal(seq.ratio, 0.95);
  assert.deepEqual([seq.low, seq.high, seq.met], [0.95, 0.95, true]);
  // Medians 9 against 10: below bindfs although one round was ahead.
  const open = row('passthrough', 'open+read');
  assert.deepEqual([open.ratio, open.low, open.high, open.met], [0.9, 0.8, 1.2, false]);
  // Medians 10 against 10: as fast as bindfs is met.
  assert.equal(row('passthrough', 'stat').met, true);
  const write = row('passthrough', 'seq-write');
  assert.deepEqual([write.ratio, write.low, write.high, write.met], [0.725, 0.7, 0.75, false]);
  assert.equal(row('metrics', 'rand-read-4k').met, false);
  // Workloads a side did not run give no row.
  assert.equal(
    checks.some((c) => c.metric === 'untar' || c.metric === 'seq-read-warm'),
    false,
  );
});

test('peak RSS is held to the limit for every configuration but a backend that keeps the files', () => {
  const rss = checkRss(run());
  assert.deepEqual(
    rss.map((c) => [c.target, c.peak, c.lowest, c.met]),
    [
      ['passthrough', 95, 90, true],
      ['metrics', 101, 99, false],
    ],
  );
});

test('the section names what is not met, and says when rounds fell on both sides', () => {
  const text = renderGoals(run());
  assert.match(text, /### Against the performance goals/);
  assert.match(
    text,
    /\| metadata-heavy work at least as fast as bindfs \| passthrough \/ bindfs \| stat \| 1\.00× \| 0\.90×–1\.10× \| met \(not in every round\) \|\n\|  \| passthrough \/ bindfs \| open\+read \| 0\.90× \| 0\.80×–1\.20× \| \*\*not met\*\* \(met in some rounds\) \|/,
  );
  assert.match(text, /\| sequential read ≥ 0\.9× native \| passthrough \/ native \| seq-read-cold \| 0\.95× \| 0\.95× \| met \|/);
  assert.match(
    text,
    /\| daemon peak RSS ≤ 100 MiB \| passthrough \| all workloads \| 95\.0 MiB \| 90\.0–95\.0 MiB \| met \|\n\|  \| metrics \| all workloads \| 101 MiB \| 99\.0–101 MiB \| \*\*not met\*\* \(met in some rounds\) \|/,
  );
  assert.doesNotMatch(text, /\| memory \|/);
  // The made-up run has no random reads on passthrough or native: that goal is named as not measured.
  assert.match(
    text,
    /Not measured in this run: random 4 KiB read ≥ 0\.8× native \(needs passthrough and native on rand-read-4k, fio-randread-qd16\)\./,
  );
  assert.match(
    text,
    /Not met in this run: passthrough seq-write, passthrough open\+read, metrics rand-read-4k, metrics RSS \(4 of 7 rows\)\./,
  );
});

test('a run that measured none of the goals has no such section', () => {
  const r = run();
  r.samples = { native: r.samples.native };
  r.daemon = {};
  assert.equal(renderGoals(r), '');
});

test('a workload whose two sides never ran in the same round gets the ratio of medians as its range', () => {
  const r = run();
  r.samples.passthrough.unlink = [100, NaN, NaN];
  r.samples.bindfs.unlink = [NaN, 50, 50];
  const c = checkSpeed(r).find((x) => x.metric === 'unlink');
  assert.ok(c);
  assert.deepEqual([c.ratio, c.low, c.high, c.met], [2, 2, 2, true]);
});
