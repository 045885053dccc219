import { OPTIONS } from '@redispatch/shared';
import type { Command } from 'commander';

/** Every setting, as `redispatch options` prints it (like `kubectl options`). */
export function formatOptions(): string {
  const lines = [
    'Every command accepts these settings, as a flag or as its REDISPATCH_* variable (the flag wins).',
    "A command's --help shows only the ones it mostly uses.",
    '',
  ];
  for (const spec of Object.values(OPTIONS)) {
    const fallback = spec.default === undefined ? '' : ` (default ${spec.default})`;
    lines.push(`  ${spec.flag}  ${spec.env}${fallback}`, `      ${spec.description}`);
  }
  lines.push('', 'All of them, with their defaults, in docs/configuration.md.');
  return lines.join('\n');
}

export function registerOptionsCommand(program: Command): void {
  program
    .command('options')
    .description('List every setting accepted by every command (flags and REDISPATCH_* variables)')
    .action(() => {
      process.stdout.write(`${formatOptions()}\n`);
    });
}
