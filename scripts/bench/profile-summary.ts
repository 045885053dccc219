/**
 * `node scripts/bench/dist/profile-summary.js [--skip S] [--top N] <file.cpuprofile>…` — where a process spent its CPU
 * (ignoring the first S seconds, e.g. module loading at start-up):
 * self time grouped by module (ioredis, pino, redispatch worker/dispatcher/shared, node internals,
 * GC, idle) and the top functions. Profiles come from `npm run bench -- --cpu-prof`.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function moduleOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1] as string;
  const own = /\/(shared|worker|dispatcher)\/dist\//.exec(url);
  if (own) return `redispatch ${own[1]}`;
  if (url.includes('/scripts/bench/')) return 'bench';
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

const args = process.argv.slice(2);
const skipIndex = args.indexOf('--skip');
const skipUs = skipIndex >= 0 ? Number(args.splice(skipIndex, 2)[1]) * 1e6 : 0;
const topIndex = args.indexOf('--top');
const topFunctions = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 15;

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    elapsed += delta;
    if (elapsed >= skipUs) selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const modules = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === '(idle)') idle += us;
    const mod = moduleOf(url, functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
    const key = `${functionName || '(anonymous)'} ${url ? `${basename(url)}:${lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((100 * us) / Math.max(1, busy)).toFixed(1)}%`.padStart(6);
  process.stdout.write(
    `\n${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages of busy)\n`,
  );
  for (const [mod, us] of [...modules]
    .filter(([m]) => m !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12))
    process.stdout.write(`  ${pct(us)}  ${mod}\n`);
  process.stdout.write('  top functions (self):\n');
  for (const [fn, us] of [...functions]
    .filter(([f]) => !f.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, topFunctions))
    process.stdout.write(`  ${pct(us)}  ${fn}\n`);
}
