// Prints the README's configuration table from the single settings table (shared/src/config/options.ts).
// Usage: node scripts/config-table.mjs   (after npm run build)
import { OPTIONS } from '@redispatch/shared';

export function configTable() {
  const rows = ['| variable | flag | default | meaning |', '| --- | --- | --- | --- |'];
  for (const spec of Object.values(OPTIONS)) {
    const flag = spec.flag.split(' ')[0];
    const fallback = spec.default === undefined ? '—' : `\`${spec.default}\``;
    rows.push(`| \`${spec.env}\` | \`${flag}\` | ${fallback} | ${spec.description.replaceAll('|', '\\|')} |`);
  }
  return rows.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(configTable());
