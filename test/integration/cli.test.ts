// The command line as a user meets it: mount, umount, run, errors, signals,
// crash cleanup and unprivileged mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CLI,
  NODE,
  ROOT,
  assertDaemonProcess,
  isMounted,
  startDaemon,
  stopDaemon,
  waitFor,
  withMount,
  withTempDir,
  writeConfig,
} from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';
import { controlSocketFor } from '../../src/control/socket-path.ts';

const cli = (args: string[], uid?: number) => run(NODE, [CLI, ...args], { uid, gid: uid });

/**
 * Runs `fn` against the detached daemon `pid` serving `mnt`, then stops it with `interposer umount` and waits for it
 * to exit; if anything failed, kills it (by PID), removes the socket it left and detaches the mount.
 */
async function withDetached(pid: number, mnt: string, fn: () => void): Promise<void> {
  try {
    fn();
    const u = cli(['umount', mnt]);
    assert.equal(u.status, 0, u.stderr);
    await waitFor(() => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 10000, 'daemon exit');
  } finally {
    if (existsSync(`/proc/${pid}`)) {
      process.kill(pid, 'SIGKILL');
      rmSync(controlSocketFor(mnt), { force: true });
    }
    if (isMounted(mnt)) sh(`umount -l ${mnt}`);
  }
}

test('--help works on every command', () => {
  for (const cmd of [[], ['mount'], ['umount'], ['run'], ['demo'], ['csi'], ['csi', 'mounter']]) {
    const r = cli([...cmd, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: interposer/);
  }
});

test('run mounts, runs the command inside, unmounts and returns its status', () => {
  const r = cli(['run', '--backend', 'memory', '--', 'sh', '-c', 'echo hi > f && cat f && pwd && exit 3']);
  assert.equal(r.status, 3, r.stderr);
  const [hi, cwd] = r.stdout.trim().split('\n');
  assert.equal(hi, 'hi');
  assert.match(cwd, /interposer-run-/);
  assert.equal(isMounted(cwd), false);
  assert.equal(existsSync(cwd), false, 'the temporary mountpoint is removed');
});

test("bin/interposer run gives the command the caller's environment, not what the launcher set for the daemon", () => {
  const bin = join(ROOT, 'bin/interposer');
  const show = [
    'run',
    '--backend',
    'memory',
    '--',
    'sh',
    '-c',
    'echo "${MALLOC_ARENA_MAX-unset} ${NODE_COMPILE_CACHE-unset} ${INTERPOSER_OWN_ENV-unset}"',
  ];
  const { MALLOC_ARENA_MAX: _a, NODE_COMPILE_CACHE: _n, INTERPOSER_OWN_ENV: _o, ...clean } = process.env;
  const plain = spawnSync(bin, show, { env: clean, encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(plain.stdout.trim(), 'unset unset unset');
  const own = spawnSync(bin, show, { env: { ...clean, MALLOC_ARENA_MAX: '4' }, encoding: 'utf8' });
  assert.equal(own.stdout.trim(), '4 unset unset', "the caller's own setting stays");
});

test('run over a passthrough directory leaves the data in it', async () => {
  await withTempDir('data', (dir) => {
    const r = cli(['run', '--backend', `passthrough:${dir}`, '--', 'sh', '-c', 'mkdir d && echo data > d/f']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(dir, 'd/f'), 'utf8'), 'data\n');
  });
});

test('errors name the problem and the fix', async () => {
  const missing = cli(['run', '--backend', 'passthrough:/nonexistent/dir', '--', 'true']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /backing directory \/nonexistent\/dir does not exist/);

  const badBackend = cli(['run', '--backend', 'floppy', '--', 'true']);
  assert.equal(badBackend.status, 2);
  assert.match(badBackend.stderr, /unknown backend; expected passthrough:DIR, memory\[:SIZE\] or null\[:SIZE\]/);

  await withTempDir('cfg', (dir) => {
    const cfg = writeConfig(dir, 'backend: { type: memory, size: 12parsecs }\nmount: { cache: sometimes, colour: red }\n');
    const bad = cli(['run', '--config', cfg, '--', 'true']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /backend\.size: "12parsecs" is not a size; expected a size such as/);
    assert.match(bad.stderr, /mount\.cache: "sometimes" is not allowed; expected one of auto, direct, keep/);
    assert.match(bad.stderr, /mount: unknown field "colour"/);

    const noMnt = cli(['mount', join(dir, 'nope')]);
    assert.equal(noMnt.status, 2);
    assert.match(noMnt.stderr, /mountpoint .*nope does not exist; create it with: mkdir -p/);

    writeFileSync(join(dir, 'file'), '');
    const notDir = cli(['mount', join(dir, 'file')]);
    assert.equal(notDir.status, 2);
    assert.match(notDir.stderr, /is not a directory/);
  });
});

test('a busy mountpoint is refused with the way out', async () => {
  await withMount(['--backend', 'memory'], async (mnt) => {
    const r = cli(['mount', '--backend', 'memory', mnt]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /is busy: .* is already mounted there; unmount it first with: interposer umount/);
    assert.equal(isMounted(mnt), true, 'the first mount keeps serving');
    assert.equal(sh('echo ok > f && cat f', { cwd: mnt }), 'ok\n');
  });
});

test('SIGTERM and SIGINT unmount and exit 0', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    await withMount(['--backend', 'memory'], async (mnt, d) => {
      sh('echo x > f', { cwd: mnt });
      d.child.kill(signal);
      assert.equal(await d.exited, 0, d.log());
      assert.equal(isMounted(mnt), false);
    });
  }
});

test("a daemon that has ended leaves Node's compile cache for the next start", async () => {
  // Daemons end through _exit(2) (cli/end-process.ts), which skips Node's own writing of the cache:
  // without it every start would strip the TypeScript sources again.
  await withTempDir('cache', async (dir) => {
    const cache = join(dir, 'cache');
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const d = await startDaemon(['--backend', 'memory'], mnt, { NODE_COMPILE_CACHE: cache });
    try {
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0, d.log());
    } finally {
      await stopDaemon(d);
    }
    const entries = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.ok(entries.length >= 20, `expected the daemon's modules in ${cache}, found ${entries.length} files`);
  });
});

test('a daemon run under --cpu-prof writes its profile when it ends', async () => {
  // Node writes the profile in its own exit, which endProcess takes for a profiled process only.
  await withTempDir('prof', async (dir) => {
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const d = await startDaemon(['--backend', 'memory'], mnt, { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${dir}` });
    try {
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0, d.log());
    } finally {
      await stopDaemon(d);
    }
    const profiles = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    assert.equal(profiles.length, 1, `expected one .cpuprofile in ${dir}, found: ${readdirSync(dir).join(', ')}`);
  });
});

test('SIGTERM detaches the mount even while a file is held open', async () => {
  const holder = run('true', []); // warm the spawn path
  void holder;
  await withMount(['--backend', 'memory'], async (mnt, d) => {
    sh('echo x > f', { cwd: mnt });
    const { spawn } = await import('node:child_process');
    const sleeper = spawn('sh', ['-c', 'exec 3<f; sleep 30'], { cwd: mnt, stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      d.child.kill('SIGTERM');
      assert.equal(await d.exited, 0, d.log());
      assert.equal(isMounted(mnt), false);
      assert.equal(existsSync(controlSocketFor(mnt)), false, 'the daemon removed its control socket');
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});

test('a daemon killed with SIGKILL leaves no dead mount for the next run', async () => {
  await withTempDir('stale', async (mnt) => {
    const first = await startDaemon(['--backend', 'memory'], mnt);
    first.child.kill('SIGKILL');
    await first.exited;
    // The kernel keeps the dead mount; the next mount must detect and clear it.
    const second = await startDaemon(['--backend', 'memory'], mnt);
    try {
      assert.equal(sh('echo alive > f && cat f', { cwd: mnt }), 'alive\n');
    } finally {
      await stopDaemon(second);
    }
    const third = await startDaemon(['--backend', 'memory'], mnt);
    third.child.kill('SIGKILL');
    await third.exited;
    // interposer umount cleans up a dead mount too, and the control socket the daemon left.
    assert.ok(existsSync(controlSocketFor(mnt)), 'the killed daemon left its control socket');
    const r = cli(['umount', mnt]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(isMounted(mnt), false);
    assert.equal(existsSync(controlSocketFor(mnt)), false, 'umount removed the dead control socket');
  });
});

test('mount --daemon detaches once mounted and umount stops it', async () => {
  await withTempDir('daemon', async (dir) => {
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const logFile = join(dir, 'daemon.log');
    const configFile = writeConfig(dir, 'mount:\n  attrTimeout: 7s\n');
    const r = cli(['mount', '--daemon', '--log', logFile, '--config', configFile, '--backend', 'memory', '--entry-timeout', '3s', mnt]);
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 0, `prints the daemon pid, got ${JSON.stringify(r.stdout)}`);
    await withDetached(pid, mnt, () => {
      assert.equal(isMounted(mnt), true);
      // Started as `node main.ts`, not through bin/interposer: the daemon still gets its memory and V8 pool settings.
      assertDaemonProcess(pid);
      // It serves the config validated before it started (file and flags), handed over on its stdin, not read again.
      assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('--config-on-stdin'));
      writeFileSync(configFile, 'mount:\n  attrTimeout: nonsense\n');
      const shown = cli(['ctl', 'show', mnt]);
      assert.equal(shown.status, 0, shown.stderr);
      const { config } = JSON.parse(shown.stdout) as { config: { backend: { type: string }; mount: Record<string, unknown> } };
      assert.equal(config.backend.type, 'memory');
      assert.equal(config.mount.attrTimeout, 7000);
      assert.equal(config.mount.entryTimeout, 3000);
      assert.equal(sh('echo d > f && cat f', { cwd: mnt }), 'd\n');
    });
    assert.match(readFileSync(logFile, 'utf8'), /unmounted/);
  });
});

test('mount --daemon says why its daemon could not mount', async () => {
  await withTempDir('daemon-fails', async (dir) => {
    const mnt = join(dir, 'mnt');
    writeFileSync(mnt, 'a file, not a directory');
    const logFile = join(dir, 'daemon.log');
    const r = cli(['mount', '--daemon', '--log', logFile, '--backend', 'memory', mnt]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /^interposer: the daemon exited with status 2 before mounting .*: mountpoint .* is not a directory; give an empty directory; its log is .*daemon\.log\n$/s,
    );
    assert.equal(isMounted(mnt), false);
    const bare = cli(['mount', '--daemon', '--backend', 'memory', mnt]);
    assert.equal(bare.status, 2, bare.stderr);
    assert.match(bare.stderr, /run without --daemon to see why/);
    const noLog = cli(['mount', '--daemon', '--log', join(dir, 'no/such/dir/daemon.log'), '--backend', 'memory', dir]);
    assert.equal(noLog.status, 2, noLog.stderr);
    assert.match(noLog.stderr, /^interposer: --log .*daemon\.log: cannot write it: ENOENT; expected a file in an existing directory\n$/);
    assert.equal(isMounted(dir), false);
  });
});

test('--config-on-stdin and serve --validated-json refuse what is not a validated config', async () => {
  await withTempDir('stdin', async (dir) => {
    for (const input of ['backend: memory\n', '{"backend": {"type": "memory"}}']) {
      const r = run(NODE, [CLI, 'mount', '--config-on-stdin', dir], { input });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^interposer: --config-on-stdin is for the process that starts a daemon; it was not a validated config \(/);
      const s = run(NODE, [CLI, 'serve', '--fd', '0', '--validated-json', input, dir]);
      assert.equal(s.status, 2, s.stderr);
      assert.match(s.stderr, /^interposer: --validated-json is for the process that starts a daemon; it was not a validated config \(/);
    }
    assert.equal(isMounted(dir), false);
  });
});

test('mount --daemon reads its config once: a config from a pipe (<(...)) works', async () => {
  await withTempDir('piped', async (dir) => {
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    // The daemon cannot open the parent's /dev/fd/63: had it read the config again, it would fail to mount.
    const r = run('bash', [
      '-c',
      `"$0" "$1" mount --daemon --config <(echo 'mount: { attrTimeout: 9s }') --backend memory "$2"`,
      NODE,
      CLI,
      mnt,
    ]);
    assert.equal(r.status, 0, r.stderr);
    await withDetached(Number(r.stdout.trim()), mnt, () => {
      const shown = cli(['ctl', 'show', mnt]);
      assert.equal(shown.status, 0, shown.stderr);
      assert.equal((JSON.parse(shown.stdout) as { config: { mount: { attrTimeout: number } } }).config.mount.attrTimeout, 9000);
    });
  });
});

test('a passthrough daemon serves modes with umask 0, but makes its trace file with the umask it was started with', async () => {
  await withTempDir('trace-mode', async (dir) => {
    const [back, mnt, trace] = [join(dir, 'back'), join(dir, 'mnt'), join(dir, 't.jsonl')];
    mkdirSync(back);
    mkdirSync(mnt);
    const r = run('bash', [
      '-c',
      'umask 027 && exec "$0" "$@"',
      NODE,
      CLI,
      'mount',
      '--daemon',
      '--backend',
      `passthrough:${back}`,
      '--trace-file',
      trace,
      mnt,
    ]);
    assert.equal(r.status, 0, r.stderr);
    await withDetached(Number(r.stdout.trim()), mnt, () => {
      // Made by a caller with umask 0: the mode asked for, unmasked by the daemon.
      sh(`umask 0 && touch ${join(mnt, 'shared')} && mkdir ${join(mnt, 'd')}`);
    });
    assert.equal(statSync(join(back, 'shared')).mode & 0o777, 0o666);
    assert.equal(statSync(join(back, 'd')).mode & 0o777, 0o777);
    assert.ok(readFileSync(trace, 'utf8').includes('"name":"create"'), 'spans were written');
    assert.equal(statSync(trace).mode & 0o777, 0o640, 'not world-writable: 0666 less the umask 027');
    // A memory daemon keeps its umask: the trace file gets it, no less and no more (0666 less 002).
    const memoryTrace = join(dir, 'm.jsonl');
    const m = run('bash', [
      '-c',
      'umask 002 && exec "$0" "$@"',
      NODE,
      CLI,
      'mount',
      '--daemon',
      '--backend',
      'memory',
      '--trace-file',
      memoryTrace,
      mnt,
    ]);
    assert.equal(m.status, 0, m.stderr);
    await withDetached(Number(m.stdout.trim()), mnt, () => sh(`touch ${join(mnt, 'f')}`));
    assert.equal(statSync(memoryTrace).mode & 0o777, 0o664);
  });
});

test('a mountpoint inside the directory it would mirror is refused; the directory itself is interposed in place', async () => {
  await withTempDir('nested', async (dir) => {
    const mnt = join(dir, 'sub', 'mnt');
    mkdirSync(mnt, { recursive: true });
    symlinkSync(dir, join(dir, 'link'));
    // Walking into the mountpoint, the daemon would wait for itself forever: refused by identity, through a symlink too.
    for (const backing of [dir, join(dir, 'sub'), join(dir, 'link')]) {
      const r = cli(['mount', '--backend', `passthrough:${backing}`, mnt]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        /^interposer: mountpoint .*\/sub\/mnt is inside the directory it would mirror, .*: the daemon would reach its own mount/,
      );
      assert.equal(isMounted(mnt), false);
    }
    writeFileSync(join(mnt, 'before'), 'underneath');
    const r = cli(['run', '--backend', `passthrough:${mnt}`, '--mountpoint', mnt, '--', 'sh', '-c', 'cat before && echo through > after']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'underneath');
    assert.equal(readFileSync(join(mnt, 'after'), 'utf8'), 'through\n');
  });
});

test('a file the daemon writes by name inside its own mountpoint is refused before mounting', async () => {
  await withTempDir('own-files', async (dir) => {
    const mnt = join(dir, 'mnt');
    mkdirSync(join(mnt, 'run'), { recursive: true });
    // Writing there, the daemon would wait for its own mount: its trace file, relative paths and symlinks included ...
    symlinkSync(mnt, join(dir, 'link'));
    for (const [file, cwd] of [
      [join(mnt, 'spans.jsonl'), ROOT],
      [join(dir, 'link', 'spans.jsonl'), ROOT],
      ['spans.jsonl', mnt],
    ]) {
      const r = run(NODE, [CLI, 'mount', '--backend', 'memory', '--trace-file', file, mnt], { cwd });
      assert.equal(r.status, 2, r.stderr);
      assert.match(
        r.stderr,
        /^interposer: the trace file .*spans\.jsonl is inside the mountpoint .*mnt: the daemon would wait for its own mount/,
      );
      assert.equal(isMounted(mnt), false);
      assert.equal(existsSync(join(mnt, 'spans.jsonl')), false, 'nothing was created there');
    }
    // ... and its control socket (an ordinary user's lives in $XDG_RUNTIME_DIR).
    chownSync(dir, 65534, 65534);
    chownSync(mnt, 65534, 65534);
    chmodSync(dir, 0o755);
    const r = run(NODE, [CLI, 'run', '--mountpoint', mnt, '--backend', 'memory', '--', 'true'], {
      uid: 65534,
      gid: 65534,
      cwd: ROOT,
      env: { XDG_RUNTIME_DIR: join(mnt, 'run') },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^interposer: the control socket .*mnt\/run\/interposer\/[0-9a-f]{16}\.sock is inside the mountpoint/);
    assert.equal(isMounted(mnt), false);
  });
});

test('a daemon mounted in place over its own sources serves control requests that load code', async () => {
  await withTempDir('own-code-config', async (configDir) => {
    const config = writeConfig(configDir, 'layers: [{ fault: { rules: [{ ops: [read], paths: [package.json], errno: EIO }] } }]\n');
    await withTempDir('own-code', async (dir) => {
      // An installation inside the directory mounted over: the sources copied, node_modules linked (it resolves outside).
      cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const r = run(NODE, [join(dir, 'src/cli/main.ts'), 'mount', '--daemon', '--backend', `passthrough:${dir}`, dir]);
      assert.equal(r.status, 0, r.stderr);
      await withDetached(Number(r.stdout.trim()), dir, () => {
        // The handed-over config leaves the schema and the YAML parser unloaded until this request: read through
        // the mount while the daemon serves it, they would wait for the daemon itself.
        const set = cli(['ctl', 'set', dir, config]);
        assert.equal(set.status, 0, set.stderr);
        assert.throws(() => readFileSync(join(dir, 'package.json')), /EIO/);
      });
    });
  });
});

test("umount refuses what is not an interposer mount: nothing, another filesystem, another tool's FUSE mount", async () => {
  await withTempDir('umount', async (dir) => {
    const [source, mnt] = [join(dir, 'source'), join(dir, 'mnt')];
    mkdirSync(source);
    mkdirSync(mnt);
    const nothing = cli(['umount', mnt]);
    assert.equal(nothing.status, 1);
    assert.match(nothing.stderr, /^interposer: nothing is mounted on .*mnt\n$/);
    const proc = cli(['umount', '/proc']);
    assert.equal(proc.status, 1);
    assert.match(proc.stderr, /^interposer: \/proc is a proc mount, not an interposer one; refusing to unmount it\n$/);
    sh(`bindfs ${source} ${mnt}`);
    try {
      const other = cli(['umount', mnt]);
      assert.equal(other.status, 1);
      assert.match(other.stderr, /^interposer: .*mnt is a fuse(\.bindfs)? mount, not an interposer one; refusing to unmount it\n$/);
      assert.equal(isMounted(mnt), true);
      // Nor is it one to mount over: the hint names the tool that can end it.
      const over = cli(['mount', '--backend', 'memory', mnt]);
      assert.equal(over.status, 2);
      assert.match(over.stderr, /is busy: .*source \(fuse(\.bindfs)?\) is already mounted there; unmount it first with: fusermount3 -u /);
    } finally {
      if (isMounted(mnt)) sh(`fusermount3 -u ${mnt}`);
    }
  });
});

test('telemetry that cannot start is a clear error, and nothing is mounted', async () => {
  await withTempDir('telemetry', async (dir) => {
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const taken = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
    try {
      const cases: Array<[string[], RegExp]> = [
        [['--metrics', '127.0.0.1:99999'], /^interposer: invalid options:\n {2}telemetry\.metrics: expected a port from 1 to 65535/],
        [
          ['--metrics', taken],
          new RegExp(`^interposer: cannot serve metrics on ${taken}: EADDRINUSE; expected an address of this machine`),
        ],
        [
          ['--trace-file', join(dir, 'no/such/dir/spans.jsonl')],
          /^interposer: cannot write the trace file .*spans\.jsonl: ENOENT; expected a file in an existing directory/,
        ],
      ];
      for (const [flags, expected] of cases) {
        const r = cli(['mount', '--backend', 'memory', ...flags, mnt]);
        assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, expected);
        assert.equal(isMounted(mnt), false);
      }
      const csi = cli([
        'csi',
        '--endpoint',
        join(dir, 'csi.sock'),
        '--node-id',
        'n1',
        '--state-dir',
        join(dir, 'state'),
        '--metrics',
        taken,
      ]);
      assert.equal(csi.status, 2, csi.stderr);
      assert.match(csi.stderr, new RegExp(`^interposer: cannot serve metrics on ${taken}: EADDRINUSE`));
    } finally {
      busy.close();
    }
    const ctl = cli(['ctl', 'set', mnt, join(dir, 'missing.yaml')]);
    assert.equal(ctl.status, 1);
    assert.match(ctl.stderr, /^interposer ctl: cannot read config file .*missing\.yaml: ENOENT\n$/);
  });
});

test('an ordinary user mounts through fusermount3', async () => {
  await withTempDir('user', (home) => {
    const mnt = join(home, 'mnt');
    mkdirSync(mnt);
    chownSync(home, 65534, 65534);
    chownSync(mnt, 65534, 65534);
    chmodSync(home, 0o755);
    try {
      // The project must be readable by the user; CI clones it world-readable.
      // Its control socket goes under $XDG_RUNTIME_DIR, here inside the temporary directory, so that
      // nothing is left in /tmp/interposer-65534 (the fallback without one).
      const r = run(NODE, [CLI, 'run', '--mountpoint', mnt, '--backend', 'memory', '--', 'sh', '-c', 'echo u > f; id -u; stat -c %u f'], {
        uid: 65534,
        gid: 65534,
        cwd: ROOT,
        env: { XDG_RUNTIME_DIR: join(home, 'run') },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['65534', '65534']);
      assert.equal(isMounted(mnt), false);
    } finally {
      if (isMounted(mnt)) sh(`umount -l ${mnt}`);
    }
  });
});
