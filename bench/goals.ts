// The goals of the performance issue, read off a finished run: which configuration is measured
// against what, on which workloads, and the ratio it must reach. Each is shown with its ratio of
// medians and the range of the rounds' own ratios: rounds are interleaved, so round i of a
// configuration ran next to round i of what it is compared with, and a goal that some rounds meet
// and others miss is within the noise of that run, which the verdict says.
import { fmt, median, table, times, type Results } from './report.ts';

export interface Goal {
  /** The goal as the issue words it. */
  text: string;
  /** The interposer configuration measured. */
  target: string;
  against: 'native' | 'bindfs';
  /** Metric keys (bench/workloads.ts). */
  metrics: readonly string[];
  /** The least ratio of medians (target / against) that meets it. */
  atLeast: number;
}

export const SPEED_GOALS: readonly Goal[] = [
  {
    text: 'sequential read ≥ 0.9× native',
    target: 'passthrough',
    against: 'native',
    metrics: ['seq-read-cold', 'seq-read-warm'],
    atLeast: 0.9,
  },
  {
    text: 'sequential write ≥ 0.8× native',
    target: 'passthrough',
    against: 'native',
    metrics: ['seq-write', 'seq-write+fsync'],
    atLeast: 0.8,
  },
  {
    text: 'random 4 KiB read ≥ 0.8× native',
    target: 'passthrough',
    against: 'native',
    metrics: ['rand-read-4k', 'fio-randread-qd16'],
    atLeast: 0.8,
  },
  {
    text: 'metadata-heavy work at least as fast as bindfs',
    target: 'passthrough',
    against: 'bindfs',
    metrics: [
      'create+write',
      'stat',
      'open+read',
      'unlink',
      'create+write (4 clients)',
      'stat (4 clients)',
      'open+read (4 clients)',
      'unlink (4 clients)',
      'readdir',
      'readdir-again',
      'readdir+stat',
      'untar',
      'rm -rf',
    ],
    atLeast: 1,
  },
  {
    text: 'with metrics on (data through the daemon), throughput ≥ bindfs',
    target: 'metrics',
    against: 'bindfs',
    metrics: ['seq-write', 'seq-read-cold', 'seq-read-warm', 'rand-read-4k', 'fio-randread-qd16', 'fio-randrw-4jobs', 'sqlite-tx'],
    atLeast: 1,
  },
];

/** The daemon's peak RSS the issue allows, MiB. */
export const RSS_LIMIT_MIB = 100;

export interface SpeedCheck {
  goal: Goal;
  metric: string;
  /** Ratio of medians. */
  ratio: number;
  /** Lowest and highest ratio of one round to the same round of what it is compared with. */
  low: number;
  high: number;
  met: boolean;
}

export interface RssCheck {
  target: string;
  /** The largest peak of its rounds, and the smallest, MiB. */
  peak: number;
  lowest: number;
  met: boolean;
}

/** Every goal whose configuration, comparison and workload ran, one row per workload. */
export function checkSpeed(r: Results): SpeedCheck[] {
  const checks: SpeedCheck[] = [];
  for (const goal of SPEED_GOALS) {
    for (const metric of goal.metrics) {
      const ours = r.samples[goal.target]?.[metric];
      const theirs = r.samples[goal.against]?.[metric];
      if (!ours || !theirs) continue;
      const ratio = median(ours) / median(theirs);
      if (!Number.isFinite(ratio)) continue;
      // Rounds where either side failed (NaN) have no ratio; with none left, the range is the ratio itself.
      const perRound = ours.map((x, i) => x / theirs[i]).filter((x) => Number.isFinite(x));
      if (perRound.length === 0) perRound.push(ratio);
      checks.push({ goal, metric, ratio, low: Math.min(...perRound), high: Math.max(...perRound), met: ratio >= goal.atLeast });
    }
  }
  return checks;
}

/**
 * Peak RSS of every interposer configuration whose files live beneath it. A backend that keeps the
 * files' contents in the daemon (memory) holds their size on top of its own, so it is left out.
 */
export function checkRss(r: Results): RssCheck[] {
  const checks: RssCheck[] = [];
  for (const t of r.targets) {
    if (t.kind !== 'interposer' || t.holdsData) continue;
    const peaks = (r.daemon[t.name] ?? []).map((d) => d.peakRss / 2 ** 20).filter((x) => Number.isFinite(x));
    if (peaks.length === 0) continue;
    const peak = Math.max(...peaks);
    checks.push({ target: t.name, peak, lowest: Math.min(...peaks), met: peak <= RSS_LIMIT_MIB });
  }
  return checks;
}

function verdict(met: boolean, straddles: boolean): string {
  if (met) return straddles ? 'met (not in every round)' : 'met';
  return straddles ? '**not met** (met in some rounds)' : '**not met**';
}

/** The goals section of the report; empty when the run measured none of them. */
export function renderGoals(r: Results): string {
  const speed = checkSpeed(r);
  const rss = checkRss(r);
  if (speed.length === 0 && rss.length === 0) return '';
  const range = (low: string, high: string): string => (low === high ? low : `${low}–${high}`);
  // A goal's text on its first row only.
  const rows = speed.map((c, i) => [
    i > 0 && speed[i - 1].goal === c.goal ? '' : c.goal.text,
    `${c.goal.target} / ${c.goal.against}`,
    c.metric,
    times(c.ratio),
    range(times(c.low), times(c.high)),
    verdict(c.met, c.low < c.goal.atLeast && c.high >= c.goal.atLeast),
  ]);
  for (const [i, c] of rss.entries()) {
    rows.push([
      i === 0 ? `daemon peak RSS ≤ ${RSS_LIMIT_MIB} MiB` : '',
      c.target,
      'all workloads',
      `${fmt(c.peak)} MiB`,
      `${range(fmt(c.lowest), fmt(c.peak))} MiB`,
      verdict(c.met, c.lowest <= RSS_LIMIT_MIB && c.peak > RSS_LIMIT_MIB),
    ]);
  }
  const unmeasured = SPEED_GOALS.filter((g) => !speed.some((c) => c.goal === g)).map(
    (g) => `${g.text} (needs ${g.target} and ${g.against} on ${g.metrics.join(', ')})`,
  );
  const missed = [
    ...speed.filter((c) => !c.met).map((c) => `${c.goal.target} ${c.metric}`),
    ...rss.filter((c) => !c.met).map((c) => `${c.target} RSS`),
  ];
  return [
    '### Against the performance goals',
    '',
    'Ratios of medians; "rounds" is the range of one round against the same round of the other (rounds are interleaved).',
    'The memory backend keeps the files in the daemon, so its RSS is not held to the limit.',
    '',
    table(['goal', 'measured', 'workload', 'ratio', 'rounds', ''], rows, ['---', '---', '---', '---:', '---', '---']),
    '',
    missed.length === 0
      ? `Every goal measured in this run is met (${rows.length} rows).`
      : `Not met in this run: ${missed.join(', ')} (${missed.length} of ${rows.length} rows).`,
    ...(unmeasured.length > 0 ? ['', `Not measured in this run: ${unmeasured.join('; ')}.`] : []),
    '',
  ].join('\n');
}
