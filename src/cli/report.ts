// interposer report: a workload characterisation from a trace file, or from a
// running mount (--live), printed and written as HTML and JSON.
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, parseConfigDoc } from '../config/load.ts';
import { parseDuration } from '../config/units.ts';
import type { Analysis as AnalysisType } from '../report/analyse.ts';
import type { ParseStats } from '../report/read.ts';

interface ReportFlags {
  html?: string;
  json?: string;
  top: string;
  live?: string;
  duration: string;
  filter?: string;
  socket?: string;
  file?: string;
  quiet?: boolean;
}

export async function reportCommand(traceFile: string | undefined, flags: ReportFlags): Promise<void> {
  // Loaded here rather than with the CLI: every mount's daemon runs this program and never reports.
  const [{ Analysis }, { LiveError, recordLive }, { readTraceFile }, { renderHtml }, { renderText }] = await Promise.all([
    import('../report/analyse.ts'),
    import('../report/live.ts'),
    import('../report/read.ts'),
    import('../report/render-html.ts'),
    import('../report/render-text.ts'),
  ]);
  const top = Number(flags.top);
  if (!Number.isInteger(top) || top < 1) throw new ConfigError(`--top ${JSON.stringify(flags.top)} is not a positive whole number`);
  if ((traceFile === undefined) === (flags.live === undefined)) {
    throw new ConfigError(
      'give a trace file (interposer report trace.jsonl) or a running mount (interposer report --live MOUNTPOINT), not both',
    );
  }
  let analysis: AnalysisType;
  let stats: ParseStats;
  if (flags.live !== undefined) {
    const durationMs = parseDuration(flags.duration);
    if (durationMs === null || durationMs <= 0)
      throw new ConfigError(`--duration ${JSON.stringify(flags.duration)} is not a duration; expected e.g. 10s or 2m`);
    const filter = flags.filter === undefined ? {} : parseConfigDoc(flags.filter, '--filter');
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (!flags.quiet) process.stderr.write(`recording ${flags.live} for ${flags.duration} (Ctrl-C stops early)...\n`);
    try {
      const rec = await recordLive({
        mountpoint: flags.live,
        socket: flags.socket,
        durationMs,
        filter,
        file: flags.file,
        signal: stop.signal,
      });
      stats = rec.stats;
      analysis = new Analysis({ source: `live ${flags.live} (${rec.file})`, top });
      for (const op of rec.ops) analysis.add(op);
    } catch (err) {
      if (err instanceof LiveError) throw new ConfigError(`--live: ${err.message}`);
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  } else {
    const file = traceFile!;
    if (!existsSync(file))
      throw new ConfigError(`trace file ${file} does not exist; record one with: interposer mount --trace-file ${file} ...`);
    analysis = new Analysis({ source: file, top });
    try {
      stats = await readTraceFile(file, (op) => analysis.add(op));
    } catch (err) {
      throw new ConfigError(
        `cannot read trace file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}; expected a file written by --trace-file`,
      );
    }
    if (analysis.count === 0 && stats.malformed > 0) {
      throw new ConfigError(
        `${file} holds no spans (${stats.malformed} lines that are not spans); expected a file written by --trace-file`,
      );
    }
  }
  if (stats.malformed > 0) process.stderr.write(`interposer report: skipped ${stats.malformed} lines that are not spans\n`);
  const report = analysis.finish();
  if (flags.json) writeOutput(flags.json, '--json', `${JSON.stringify(report, null, 2)}\n`);
  if (flags.html) writeOutput(flags.html, '--html', renderHtml(report));
  if (!flags.quiet) process.stdout.write(renderText(report));
}

function writeOutput(file: string, flag: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw new ConfigError(`${flag} ${file}: cannot write it: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

export function addReportCommand(program: Command): void {
  program
    .command('report')
    .description('Characterise a workload from a trace file (--trace-file of mount/run) or a running mount (--live).')
    .argument('[tracefile]', 'a trace written by --trace-file: one JSON span per line')
    .option('--html <file>', 'also write a self-contained HTML report with charts')
    .option('--json <file>', 'also write the report as JSON')
    .option('--top <n>', 'rows in each ranked list (files, directories, processes)', '20')
    .option('--live <mountpoint>', 'record a running mount instead; it must have been mounted with --trace-file')
    .option('--duration <duration>', 'with --live: how long to record', '10s')
    .option('--filter <filter>', "with --live: trace filter while recording, e.g. '{ops: [write, fsync]}' (default: everything)")
    .option('--socket <path>', "with --live: the mount's control socket (default: derived from the mountpoint)")
    .option('--file <path>', "with --live: the mount's trace file, if its configured path is relative")
    .option('-q, --quiet', 'print nothing; only write --html/--json')
    .action(reportCommand);
}
