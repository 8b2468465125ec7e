import { spawn } from 'node:child_process';
import { fstatSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, handedConfig, type LoadedConfig } from '../config/load.ts';
import { MountError, remount } from '../fuse/mount.ts';
import { log } from '../util/log.ts';
import { DAEMON_ENV, daemonNodeFlags } from './daemon-process.ts';
import { endProcess } from './end-process.ts';
import { describeBackend, loadMountConfig, mountPlan } from './options.ts';
import { readMountOptions, readRemount, type CommandFlags } from './mount-options.ts';
import { flushTelemetry } from '../telemetry/running.ts';
import { serve } from './serve.ts';

interface Flags extends CommandFlags {
  daemon?: boolean;
  /** -o lists (mount-options.ts). */
  options: string[];
  /** Set by detach(): the config comes validated on stdin, so the schema is not loaded again. */
  configOnStdin?: boolean;
}

export async function mountCommand(mountpoint: string, given: Flags): Promise<void> {
  const again = readRemount(given.options);
  if (again) return remount(mountpoint, again.readOnly, again.kernelFlags);
  const { flags, fsname, kernelFlags } = readMountOptions(given.options, given);
  const { config, rawLayers } = given.configOnStdin
    ? handedConfig(readFileSync(0, 'utf8'), '--config-on-stdin')
    : loadMountConfig(flags, 'memory');
  if (given.daemon) return detach(mountpoint, flags, { config, rawLayers });
  const served = await serve(await mountPlan(config, rawLayers, mountpoint, { fsname, kernelFlags }));
  log.info({ mountpoint: resolve(mountpoint), backend: describeBackend(config.backend) }, 'mounted; Ctrl-C or SIGTERM unmounts');
  process.send?.('mounted');
  process.disconnect?.();
  await served.ended;
  await flushTelemetry();
  log.info({ mountpoint: resolve(mountpoint) }, 'unmounted');
  endProcess(0);
}

/**
 * Starts this same command without --daemon in a new session and waits until it has mounted; with
 * the daemon's Node flags and environment also when this CLI was started without bin/interposer
 * (what the user gave comes after, and wins). The child is handed the config validated here on its
 * stdin (handedConfig): it never reads the config file again, which may have changed or been a pipe.
 */
function detach(mountpoint: string, flags: CommandFlags, validated: LoadedConfig): Promise<void> {
  // The flag goes before the arguments: after a `--` it would be one.
  const [script, command, ...rest] = process.argv.slice(1);
  const args = [script, command, '--config-on-stdin', ...rest.filter((a) => a !== '--daemon' && a !== '-d')];
  const out = flags.log ? openLog(flags.log) : 'ignore';
  const logStart = typeof out === 'number' ? fstatSync(out).size : 0;
  const child = spawn(process.execPath, [...daemonNodeFlags(), ...process.execArgv, ...args], {
    detached: true,
    env: { ...DAEMON_ENV, ...process.env },
    stdio: ['pipe', out, out, 'ipc'],
  });
  child.stdin!.end(JSON.stringify(validated));
  return new Promise((_resolve, reject) => {
    child.once('message', (msg) => {
      if (msg !== 'mounted') return;
      process.stdout.write(`${child.pid}\n`);
      child.disconnect();
      child.unref();
      endProcess(0);
    });
    child.once('exit', (code) => {
      const why = flags.log ? lastLine(flags.log, logStart) : '';
      const more = flags.log ? `; its log is ${flags.log}` : '; run without --daemon to see why';
      reject(new MountError(`the daemon exited with status ${code} before mounting ${mountpoint}${why ? `: ${why}` : ''}${more}`));
    });
  });
}

function openLog(file: string): number {
  try {
    return openSync(file, 'a');
  } catch (err) {
    throw new ConfigError(
      `--log ${file}: cannot write it: ${(err as NodeJS.ErrnoException).code ?? err}; expected a file in an existing directory`,
    );
  }
}

/** The last line written to `file` from byte `from` on, without the CLI's "interposer: " prefix. */
function lastLine(file: string, from: number): string {
  const lines = readFileSync(file).subarray(from).toString('utf8').trim().split('\n');
  return (lines.at(-1) ?? '').replace(/^interposer: /, '');
}
