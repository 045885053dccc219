/** `npm run bench` flags (see the usage line in run.ts) and the scenario sizes they select. */

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
export const quick = flag('quick');
const PHASES = ['throughput', 'latency', 'rss', 'delay', 'failover', 'memory'] as const;
export const only = new Set((value('only') ?? PHASES.join(',')).split(','));
const workerCounts = (value('workers') ?? '1,2,4').split(',').map(Number);
const SYSTEMS = ['redispatch', 'raw', 'bullmq', 'beequeue'] as const;
/** `--systems redispatch` (A/B runs of one system); every system by default. */
export const systems = new Set((value('systems') ?? SYSTEMS.join(',')).split(','));
export const options = {
  quick,
  reps: only.has('throughput') ? Number(value('reps') ?? (quick ? 1 : 3)) : 1,
  workerCounts,
  /** Peers are measured at these worker counts (quick: only the latency configuration). */
  peerWorkerCounts: quick ? [2] : workerCounts,
  sizes: (value('sizes') ?? '100,4096').split(',').map(Number),
  concurrency: Number(value('concurrency') ?? 100),
  count: (size: number) => {
    // Long enough to be stable: 6k messages was warm-up dominated (issue 17).
    const base = Number(value('count') ?? (quick ? 20_000 : 100_000));
    return size > 1000 ? Math.round(base / 2.5) : base;
  },
  warmup: quick ? 1_000 : 3_000,
  latencyWorkers: 2,
  latencySeconds: quick ? 1 : 8,
  peerLatencyAllRates: !quick,
  steadyRate: 2_000,
  steadySeconds: quick ? 1 : 5,
  burstSeconds: quick ? 1 : 3,
  failoverKills: quick ? 2 : 5,
  memoryCount: quick ? 20_000 : 100_000,
  memoryPeers: !quick,
  cpuProf: flag('cpu-prof'),
};
