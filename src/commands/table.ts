/** A plain text table for the commands' human output: columns padded, the last one left free. */
export function renderTable(head: string[], rows: string[][], maxWidth = 40): string {
  const widths = head.map((h, i) => Math.min(maxWidth, Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.slice(0, widths[i]).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(head), ...rows.map(line)].join('\n')}\n`;
}
