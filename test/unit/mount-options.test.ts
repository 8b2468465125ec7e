// `mount -o`: fstab's option lists read into the command's flags, the source df shows and the kernel's
// mount flags; what cannot be meant is refused with what is expected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/load.ts';
import { backendOfSource, readMountOptions, readRemount } from '../../src/cli/mount-options.ts';
import { loadMountConfig } from '../../src/cli/options.ts';

test('options name the flags, with fstab underscores or dashes; kernel flags and fsname apart', () => {
  const read = readMountOptions(
    ['source=/srv/data,allow_other,ro,cache=direct,attr-timeout=2s', 'noatime,noexec,noatime,trace_file=/var/log/t.jsonl,fsname=data'],
    {},
  );
  assert.deepEqual(read.flags, {
    backend: 'passthrough:/srv/data',
    allowOther: true,
    readOnly: true,
    cache: 'direct',
    attrTimeout: '2s',
    traceFile: '/var/log/t.jsonl',
  });
  assert.deepEqual(read.kernelFlags, ['noatime', 'noexec']);
  assert.equal(read.fsname, 'data');
  const { config } = loadMountConfig(read.flags);
  assert.equal(config.mount.cache, 'direct');
  assert.equal(config.mount.attrTimeout, 2000);
  assert.equal(config.mount.readOnly, true);
  assert.ok(
    config.layers.some((l) => 'trace' in l),
    'trace_file adds the trace layer, as --trace-file does',
  );
});

test("what is already so, and fstab's own words, change nothing", () => {
  const words =
    'defaults,rw,nosuid,nodev,exec,async,atime,diratime,default_permissions,noauto,nofail,_netdev,user,x-systemd.automount,comment=x';
  assert.deepEqual(readMountOptions([words], { cache: 'keep' }), { flags: { cache: 'keep' }, kernelFlags: [] });
});

test('a mount reads its flag words as a remount does: the later of two contrary words wins', () => {
  assert.deepEqual(readMountOptions(['noexec,ro,noatime', 'exec,rw'], {}), { flags: {}, kernelFlags: ['noatime'] });
  assert.deepEqual(readMountOptions(['rw,exec,ro,noexec'], {}), { flags: { readOnly: true }, kernelFlags: ['noexec'] });
});

test('a mount source is a backend when it is an absolute path or a backend spec, else a label', () => {
  assert.equal(backendOfSource('/srv/data'), 'passthrough:/srv/data');
  assert.equal(backendOfSource('memory:1GiB'), 'memory:1GiB');
  assert.equal(backendOfSource('null'), 'null');
  assert.equal(backendOfSource('passthrough:/x'), 'passthrough:/x');
  assert.equal(backendOfSource('interposer'), undefined);
  assert.equal(backendOfSource('memoryhog'), undefined);
  assert.equal(readMountOptions(['source=memory'], {}).flags.backend, 'memory');
});

test('unknown, valueless, doubled and unsafe options are refused with what is expected', () => {
  const refused = (lists: string[], message: RegExp, flags = {}) =>
    assert.throws(
      () => readMountOptions(lists, flags),
      (err: Error) => err instanceof ConfigError && message.test(err.message),
    );
  refused(['allow_other,sudi'], /^mount option sudi is not known; expected config=, backend=, cache=.* noatime.* x-\.\.\.\)$/);
  refused(['cachee=direct'], /mount option cachee=direct is not known/);
  refused(['cache='], /mount option cache= has no value; write cache=VALUE/);
  refused(['suid'], /mount option suid: interposer mounts are always nosuid and nodev; drop it/);
  refused(['dev'], /always nosuid and nodev/);
  refused(['cache=direct'], /mount option cache=direct: cache is given twice; give it once/, { cache: 'keep' });
  refused(['ro', 'read_only'], /read_only is given twice/);
  refused(['source=/a,backend=memory'], /the backend \(source=, backend= or the mount source\) is given twice/);
  refused(['fsname=a,fsname=b'], /fsname is given twice/);
  refused(['allow_other=yes'], /mount option allow_other=yes is not known/);
});

test("remount: the mount flags, the later of two words winning; mount(8)'s other options left alone", () => {
  assert.equal(readRemount(['ro,noexec']), undefined, 'not a remount');
  // As mount(8) hands them back from /proc/mounts.
  assert.deepEqual(readRemount(['ro,nosuid,nodev,relatime,remount,user_id=0,group_id=0,default_permissions,max_read=1048576']), {
    readOnly: true,
    kernelFlags: ['relatime'],
  });
  // As it hands them back from an fstab line, with the daemon's options among them.
  assert.deepEqual(readRemount(['ro,noatime,noexec,remount,cache=direct,nofail', 'rw,exec,sync']), {
    readOnly: false,
    kernelFlags: ['noatime', 'sync'],
  });
});
