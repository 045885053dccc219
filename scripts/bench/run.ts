/**
 * `npm run bench [-- --quick] [--only throughput,latency,rss,failover,memory] [--reps N]
 *  [--workers 1,2,4] [--concurrency N] [--cpu-prof]`
 *
 * Starts every redis-server and process it measures (loopback only, bounded loads), runs the
 * scenarios, prints tables, and writes bench-results/<stamp>.json and bench-results/<stamp>.svg.
 * Method and caveats: scripts/bench/README.md. The scenarios live in run/, the systems under test
 * in lib/systems/, the tables and the chart in lib/report/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './lib/paths.js';
import { killAllNow, spawnedProcesses, stopAll } from './lib/procs.js';
import { renderSvg } from './lib/report/render-svg.js';
import { renderMarkdown, renderTerminal } from './lib/report/render-text.js';
import type { Report } from './lib/report/results.js';
import { errorText, round } from './lib/util.js';
import { log, logDir, profDir, stamp, startedAt } from './run/context.js';
import { environment } from './run/environment.js';
import { memoryPhase } from './run/memory.js';
import { only, options, quick } from './run/options.js';
import { runRound } from './run/rounds.js';

async function main(): Promise<void> {
  const report: Report = {
    options: { ...options, count: { 100: options.count(100), 4096: options.count(4096) } },
    environment: environment(),
    throughput: [],
    latency: [],
    latencyMax: Number.NaN,
    latencyRates: [],
    latencySkipped: [],
    rss: null,
    failover: null,
    memory: [],
    errors: [],
    logDir,
    elapsedSeconds: 0,
  };
  log(`redispatch bench ${quick ? '(quick)' : '(full)'}; process logs in ${logDir}`);
  const rounds = only.has('throughput') ? options.reps : 1;
  for (let r = 1; r <= rounds; r++) await runRound(r, report);
  if (only.has('memory')) await memoryPhase(report);
  report.elapsedSeconds = round((Date.now() - startedAt) / 1000, 1);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const jsonFile = join(RESULTS_DIR, `${stamp}${quick ? '-quick' : ''}.json`);
  const svgFile = join(RESULTS_DIR, `${stamp}${quick ? '-quick' : ''}.svg`);
  writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(svgFile, renderSvg(report));
  process.stdout.write(`${renderTerminal(report)}\n`);
  process.stdout.write(`\n<!-- bench:start -->\n${renderMarkdown(report)}\n<!-- bench:end -->\n\n`);
  process.stdout.write(`results: ${jsonFile}\nchart:   ${svgFile}\nlogs:    ${logDir}\n`);
  writeFileSync(join(logDir, 'pids.json'), `${JSON.stringify(spawnedProcesses, null, 2)}\n`);
  if (options.cpuProf)
    process.stdout.write(
      `cpu profiles: ${profDir} (pid -> process in ${join(logDir, 'pids.json')}; summarize with node scripts/bench/dist/profile-summary.js <files>)\n`,
    );
  if (report.errors.length > 0) {
    process.stdout.write(
      `\n${report.errors.length} error(s):\n${report.errors.map((e) => `  ${e}`).join('\n')}\n`,
    );
    process.exitCode = 1;
  }
}

let interrupted = false;
const onSignal = () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: stopping every process this run started');
  void stopAll(2_000).finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('exit', killAllNow);

try {
  await main();
} catch (error) {
  log(`bench failed: ${errorText(error)}`);
  process.exitCode = 1;
} finally {
  await stopAll(2_000);
}
