// interposer ctl: the control API of a running mount, from the shell.
import { endProcess } from './end-process.ts';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { callControl, type ControlReply } from '../control/client.ts';
import { controlSocketFor } from '../control/socket-path.ts';

interface CtlFlags {
  socket?: string;
}

async function act(mountpoint: string, flags: CtlFlags, method: string, path: string, body?: string): Promise<void> {
  const socket = flags.socket ?? controlSocketFor(mountpoint);
  let answer: ControlReply;
  try {
    answer = await callControl(socket, method, path, body);
  } catch (err) {
    process.stderr.write(`interposer ctl: ${(err as Error).message}\n`);
    endProcess(1);
  }
  const { status, text } = answer;
  if (status >= 400) {
    let message = text;
    try {
      message = (JSON.parse(text) as { error: string }).error;
    } catch {
      // not JSON: print as is
    }
    process.stderr.write(`interposer ctl: ${message}\n`);
    endProcess(1);
  }
  process.stdout.write(text);
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`interposer ctl: cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}\n`);
    return endProcess(1);
  }
}

export function addCtlCommand(program: Command): void {
  const ctl = program
    .command('ctl')
    .description('Inspect and change a running mount: layers, rules, counters, pause, wait.')
    .option('--socket <path>', 'control socket (default: derived from the mountpoint)');
  const flags = (): CtlFlags => ctl.opts<CtlFlags>();
  ctl
    .command('show')
    .argument('<mountpoint>')
    .description('print the config and whether injection is paused')
    .action((m: string) => act(m, flags(), 'GET', '/v1/config'));
  ctl
    .command('rules')
    .argument('<mountpoint>')
    .description('print every rule with its matched and fired counts')
    .action((m: string) => act(m, flags(), 'GET', '/v1/rules'));
  ctl
    .command('set')
    .argument('<mountpoint>')
    .argument('<file>', 'YAML or JSON config; only its layers may differ')
    .description('replace the layers atomically; a bad config is rejected and the old one stays')
    .action((m: string, file: string) => act(m, flags(), 'PUT', '/v1/config', readConfigFile(file)));
  ctl
    .command('add-rule')
    .argument('<mountpoint>')
    .argument('<layer>', 'layer index or kind (fault, latency, throttle)')
    .argument('<rule>', "the rule as JSON or YAML flow, e.g. '{ops: [write], errno: EIO}'")
    .option('--ttl <duration>', 'remove the rule again after this long')
    .description('add a rule to a layer; prints its name')
    .action((m: string, layer: string, rule: string, o: { ttl?: string }) =>
      act(m, flags(), 'POST', '/v1/rules', JSON.stringify({ layer: /^\d+$/.test(layer) ? Number(layer) : layer, rule: rule, ttl: o.ttl })),
    );
  ctl
    .command('rm-rule')
    .argument('<mountpoint>')
    .argument('<name>')
    .description('remove a rule by name')
    .action((m: string, name: string) => act(m, flags(), 'DELETE', `/v1/rules?name=${encodeURIComponent(name)}`));
  ctl
    .command('crash')
    .argument('<mountpoint>')
    .description('simulate a power loss: discard every write not yet made durable by fsync/fdatasync/syncfs')
    .action((m: string) => act(m, flags(), 'POST', '/v1/crash'));
  ctl
    .command('trace')
    .argument('<mountpoint>')
    .argument('<filter>', 'e.g. \'{ops: [write, fsync], paths: ["**/*.db*"], minDuration: 1ms}\'')
    .description("replace the trace filter of the mount's trace layers")
    .action((m: string, filter: string) => act(m, flags(), 'PUT', '/v1/trace', filter));
  ctl
    .command('pause')
    .argument('<mountpoint>')
    .description('stop injecting (faults, delays, throttling) until resumed')
    .action((m: string) => act(m, flags(), 'POST', '/v1/pause'));
  ctl
    .command('resume')
    .argument('<mountpoint>')
    .description('inject again')
    .action((m: string) => act(m, flags(), 'POST', '/v1/resume'));
  ctl
    .command('wait')
    .argument('<mountpoint>')
    .argument('<rule>', 'rule name')
    .option('--fired <n>', 'how many times it must have fired', '1')
    .option('--timeout <duration>', 'give up after', '30s')
    .description('wait until a rule has fired N times (for test harnesses); exits 1 on timeout')
    .action((m: string, rule: string, o: { fired: string; timeout: string }) =>
      act(m, flags(), 'GET', `/v1/wait?rule=${encodeURIComponent(rule)}&fired=${o.fired}&timeout=${encodeURIComponent(o.timeout)}`),
    );
}
