/** One table of the report and its two renderings: aligned plain text (terminal) and markdown. */

export type Table = { title: string; header: string[]; rows: string[][]; notes?: string[] };

export function renderText(table: Table): string {
  const widths = table.header.map((h, i) =>
    Math.max(h.length, ...table.rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [
    table.title,
    line(table.header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map(line),
    ...(table.notes ?? []).map((n) => `  ${n}`),
  ].join('\n');
}

export function renderMd(table: Table): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [
    `**${table.title}**`,
    '',
    row(table.header),
    row(table.header.map(() => '---')),
    ...table.rows.map(row),
    ...(table.notes?.length ? ['', ...table.notes.map((n) => `<sub>${n}</sub>`)] : []),
  ].join('\n');
}
