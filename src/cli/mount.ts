import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { resolve } from 'node:path';
import { log } from '../util/log.ts';
import { DAEMON_ENV, daemonNodeFlags } from './daemon-process.ts';
import { endProcess } from './end-process.ts';
import { describeBackend, loadMountConfig, mountPlan, type MountFlags } from './options.ts';
import { flushTelemetry } from '../telemetry/running.ts';
import { serve } from './serve.ts';

interface Flags extends MountFlags {
  daemon?: boolean;
  log?: string;
}

export async function mountCommand(mountpoint: string, flags: Flags): Promise<void> {
  const { config, rawLayers } = loadMountConfig(flags, 'memory');
  if (flags.daemon) return detach(mountpoint, flags);
  const served = await serve(await mountPlan(config, rawLayers, mountpoint));
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
 * (what the user gave comes after, and wins).
 */
function detach(mountpoint: string, flags: Flags): Promise<void> {
  const args = process.argv.slice(1).filter((a) => a !== '--daemon' && a !== '-d');
  const out = flags.log ? openSync(flags.log, 'a') : 'ignore';
  const child = spawn(process.execPath, [...daemonNodeFlags(), ...process.execArgv, ...args], {
    detached: true,
    env: { ...DAEMON_ENV, ...process.env },
    stdio: ['ignore', out, out, 'ipc'],
  });
  return new Promise((_resolve, reject) => {
    child.once('message', (msg) => {
      if (msg !== 'mounted') return;
      process.stdout.write(`${child.pid}\n`);
      child.disconnect();
      child.unref();
      endProcess(0);
    });
    child.once('exit', (code) => {
      reject(
        new Error(
          `the daemon exited with status ${code} before mounting ${mountpoint}${flags.log ? `; see ${flags.log}` : '; run without --daemon to see why'}`,
        ),
      );
    });
  });
}
