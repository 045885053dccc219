// Prints the configuration table of docs/configuration.md from the single settings table
// (shared/src/config/options.ts), or with --write replaces the table between that page's config-table markers.
// Usage (after npm run build): node scripts/config-table.mjs [--write]
import { readFileSync, writeFileSync } from 'node:fs';
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

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--write')) {
    const path = new URL('../docs/configuration.md', import.meta.url);
    const readme = readFileSync(path, 'utf8');
    const start = readme.indexOf('<!-- config-table:start -->');
    const end = readme.indexOf('<!-- config-table:end -->');
    if (start < 0 || end < 0) throw new Error('docs/configuration.md has no config-table markers');
    const head = readme.slice(0, start + '<!-- config-table:start -->'.length);
    writeFileSync(path, `${head}\n${configTable()}\n${readme.slice(end)}`);
  } else {
    console.log(configTable());
  }
}
