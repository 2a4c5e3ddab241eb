// Plain-text tables for the CLI: left-aligned columns, two spaces apart, no colour, so output is
// the same in a terminal, a pipe or a log.
export interface Column<Row> {
  header: string
  value: (row: Row) => string
  align?: 'left' | 'right'
}

export function renderTable<Row> (columns: ReadonlyArray<Column<Row>>, rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)))
  const line = (values: readonly string[]): string => values
    .map((v, i) => columns[i]?.align === 'right' ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))
    .join('  ')
    .trimEnd()
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n')
}
