// The embedded default job: a memory-backed mount, a small workload of
// ordinary tools inside it, and a summary of what reached the daemon.
import { endProcess } from './end-process.ts';
import { opName } from '../fuse/abi.ts';
import { runInMount } from './run.ts';
import { performance } from '../util/clock.ts';

const WORKLOAD = `
set -e
mkdir -p src/a src/b
for i in $(seq 1 200); do echo "line $i of a small file" > src/a/file$i.txt; done
dd if=/dev/urandom of=src/b/blob bs=1M count=16 status=none
cp -r src copy
tar -cf archive.tar src
mkdir untarred && tar -xf archive.tar -C untarred
cmp src/b/blob untarred/src/b/blob
ln -s src/b/blob link && ln src/a/file1.txt hardlink
mv copy moved
find . -type f | wc -l > count.txt
cat src/a/*.txt | wc -c > /dev/null
sync
rm -rf moved untarred archive.tar
echo "workload finished: $(ls | wc -l) entries at the top, $(du -sh . | cut -f1) used"
`;

export async function demoCommand(): Promise<void> {
  const started = performance.now();
  const { status, served } = await runInMount(['sh', '-c', WORKLOAD], { backend: 'memory:256MiB' }, (s) => s.session.timeRequests());
  const seconds = (performance.now() - started) / 1000;
  const s = served.session;
  const rows: Array<[string, number, number]> = [];
  for (let op = 0; op < s.opCounts.length; op++) {
    if (s.opCounts[op] > 0) rows.push([opName(op), s.opCounts[op], (s.opSeconds[op] / s.opCounts[op]) * 1e6]);
  }
  rows.sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((n, r) => n + r[1], 0);
  const lines = [
    '',
    `interposer demo: memory backend, ${total} requests in ${seconds.toFixed(2)} s; workload exit status ${status}`,
    '',
    `${'operation'.padEnd(18)}${'requests'.padStart(10)}${'mean µs'.padStart(10)}`,
    ...rows.map(([op, n, us]) => `${op.padEnd(18)}${String(n).padStart(10)}${us.toFixed(1).padStart(10)}`),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  endProcess(status);
}
