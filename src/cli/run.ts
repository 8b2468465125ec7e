import { spawn } from 'node:child_process';
import { userEnv } from './daemon-process.ts';
import { endProcess } from './end-process.ts';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { constants } from 'node:os';
import { log } from '../util/log.ts';
import { loadMountConfig, mountPlan, type MountFlags } from './options.ts';
import { flushTelemetry } from '../telemetry/running.ts';
import { serve, type Served } from './serve.ts';
import { controlSocketFor } from '../control/socket-path.ts';

interface Flags extends MountFlags {
  mountpoint?: string;
}

/** Mounts, runs `command` with the mount as its working directory, unmounts; resolves to its exit status. */
export async function runInMount(
  command: string[],
  flags: Flags,
  onMounted?: (served: Served) => void,
): Promise<{ status: number; served: Served }> {
  const { config, rawLayers } = loadMountConfig(flags, 'memory');
  const temporary = !flags.mountpoint;
  const mountpoint = flags.mountpoint ? resolve(flags.mountpoint) : mkdtempSync(join(tmpdir(), 'interposer-run-'));
  let served: Served;
  try {
    served = await serve(await mountPlan(config, rawLayers, mountpoint));
  } catch (err) {
    if (temporary) rmdirSync(mountpoint);
    throw err;
  }
  onMounted?.(served);
  const status = await new Promise<number>((done) => {
    // The child enters the mount after exec: uv_spawn blocks this thread until
    // the child has exec'd, so a chdir into the mount before that would wait
    // for this very thread to answer its LOOKUP.
    const child = spawn('/bin/sh', ['-c', 'cd "$INTERPOSER_MOUNT" && exec "$0" "$@"', ...command], {
      stdio: 'inherit',
      env: { ...userEnv(process.env), INTERPOSER_MOUNT: mountpoint, INTERPOSER_CONTROL: controlSocketFor(mountpoint) },
    });
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    process.on('SIGTERM', forward);
    child.on('error', (err) => {
      process.stderr.write(`interposer: cannot run ${command[0]}: ${err.message}\n`);
      done(127);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', forward);
      done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
  let err = served.unmount(false);
  if (err) {
    log.warn({ err }, 'mount still busy after the command exited; detaching it');
    err = served.unmount(true);
  }
  if (err) log.error({ err }, 'unmount failed');
  await served.ended;
  await flushTelemetry();
  if (temporary) rmdirSync(mountpoint);
  return { status, served };
}

export async function runCommand(command: string[], flags: Flags): Promise<void> {
  const { status } = await runInMount(command, flags);
  endProcess(status);
}
