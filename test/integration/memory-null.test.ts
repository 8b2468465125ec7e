// What only the RAM backends do, seen through a mount: the memory backend's
// size cap (ENOSPC, df, space coming back on delete) and the null backend's
// /dev/null files (writes vanish, reads give EOF or a fixed run of zeros)
// under a namespace that still works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { withMount } from '../helpers/mount.ts';
import { run, sh } from '../helpers/run.ts';

const MiB = 1024 * 1024;

/** df's size, used and available columns in bytes. */
function df(mnt: string): { size: number; used: number; avail: number } {
  const [size, used, avail] = sh(`df -B1 --output=size,used,avail ${mnt}`).trim().split('\n')[1].trim().split(/\s+/).map(Number);
  return { size, used, avail };
}

test('memory:64MiB: writing past the cap fails with ENOSPC, df shows the cap, deleting frees the space', async () => {
  await withMount(['--backend', 'memory:64MiB'], async (mnt) => {
    assert.deepEqual(df(mnt), { size: 64 * MiB, used: 0, avail: 64 * MiB });

    const dd = run('dd', ['if=/dev/zero', 'of=big', 'bs=1M', 'count=100'], { cwd: mnt });
    assert.notEqual(dd.status, 0, 'dd must fail');
    assert.match(dd.stderr, /No space left on device/);
    const size = statSync(join(mnt, 'big')).size;
    assert.ok(size > 0 && size <= 64 * MiB, `what fitted was kept: ${size} bytes`);
    assert.equal(df(mnt).avail, 0);
    // Full means full for every file, not just this one (bash names the errno; dash says "I/O error").
    const more = run('bash', ['-c', 'echo more > other'], { cwd: mnt });
    assert.match(more.stderr, /No space left on device/);

    sh('rm big other', { cwd: mnt });
    assert.deepEqual(df(mnt), { size: 64 * MiB, used: 0, avail: 64 * MiB }, 'every byte came back');
    sh('dd if=/dev/zero of=again bs=1M count=60 status=none', { cwd: mnt });
    assert.equal(statSync(join(mnt, 'again')).size, 60 * MiB);
    const after = df(mnt);
    assert.ok(after.used >= 60 * MiB && after.avail <= 4 * MiB, `60 MiB in use: ${JSON.stringify(after)}`);

    // Truncating gives space back too.
    sh('truncate -s 1M again', { cwd: mnt });
    assert.ok(df(mnt).avail >= 62 * MiB);
  });
});

test('memory: a sparse file costs only what was written, not its size', async () => {
  await withMount(['--backend', 'memory:64MiB'], async (mnt) => {
    sh('truncate -s 1G sparse && echo tail >> sparse', { cwd: mnt });
    assert.equal(statSync(join(mnt, 'sparse')).size, 1024 * MiB + 5);
    assert.ok(df(mnt).avail >= 63 * MiB, 'the hole takes no space');
  });
});

test('null: writes succeed and vanish, reads give EOF, metadata works', async () => {
  await withMount(['--backend', 'null'], async (mnt) => {
    const dd = run('dd', ['if=/dev/zero', 'of=big', 'bs=1M', 'count=100'], { cwd: mnt });
    assert.equal(dd.status, 0, dd.stderr);
    assert.match(dd.stderr, /104857600 bytes/);
    assert.equal(sh('cat big', { cwd: mnt }), '', 'nothing comes back');
    sh('echo hello > small', { cwd: mnt });
    assert.equal(sh('cat small | wc -c', { cwd: mnt }).trim(), '0');

    sh('mkdir -p d/e && chmod 700 d && touch d/f && mv d/f d/g && mv d dd && ln -s g dd/l', { cwd: mnt });
    assert.equal(sh('stat -c %a dd', { cwd: mnt }), '700\n');
    assert.equal(sh('ls', { cwd: mnt }), 'big\ndd\nsmall\n');
    assert.equal(sh('ls dd', { cwd: mnt }), 'e\ng\nl\n');
    assert.equal(sh('readlink dd/l', { cwd: mnt }), 'g\n');
    sh('chown 12:34 dd/g && setfattr -n user.k -v v dd/g', { cwd: mnt });
    assert.equal(sh('stat -c %u:%g dd/g && getfattr --only-values -n user.k dd/g', { cwd: mnt }), '12:34\nv');
    sh('rm -r dd', { cwd: mnt });
    assert.equal(sh('ls', { cwd: mnt }), 'big\nsmall\n');
  });
});

test('null:1MiB: every file reads as 1 MiB of zeros', async () => {
  await withMount(['--backend', 'null:1MiB'], async (mnt) => {
    sh('touch empty && echo "some data" > written && dd if=/dev/urandom of=random bs=64k count=4 status=none', { cwd: mnt });
    for (const name of ['empty', 'written', 'random']) {
      assert.equal(statSync(join(mnt, name)).size, MiB, `${name} is 1 MiB`);
      assert.equal(sh(`cat ${name} | wc -c`, { cwd: mnt }).trim(), String(MiB));
      const cmp = run('sh', ['-c', `head -c 1M /dev/zero | cmp - ${name}`], { cwd: mnt });
      assert.equal(cmp.status, 0, `${name} is all zeros: ${cmp.stdout}${cmp.stderr}`);
    }
    // Reads at an offset stop at the fixed size.
    assert.equal(sh('dd if=empty bs=4k skip=255 status=none | wc -c', { cwd: mnt }).trim(), '4096');
    assert.equal(sh('dd if=empty bs=4k skip=256 status=none | wc -c', { cwd: mnt }).trim(), '0');
  });
});
