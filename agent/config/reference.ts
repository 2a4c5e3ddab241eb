// docs/config.md's reference table, rendered from schema.ts so the docs cannot drift from the code.
import { agentConfigSchema } from './schema.js'
import { leaves } from './walk.js'

/** The command that rewrites the generated part of docs/config.md. */
export const CONFIG_DOCS_COMMAND = 'node --import tsx agent/config/docs.ts --write'

function cell (text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ')
}

/** Markdown: one row per field (YAML path, type, default, what it does and why). */
export function renderConfigReference (): string {
  // A default in parentheses is a description ("(the host name)"), not a literal.
  const literal = (d: string): string => d.startsWith('(') ? cell(d) : `\`${cell(d)}\``
  const rows = leaves(agentConfigSchema).map((l) =>
    `| \`${l.path}\` | ${cell(l.type)} | ${literal(l.default)} | ${cell(l.doc)} |`)
  return ['| field | type | default | description |', '|---|---|---|---|', ...rows].join('\n') + '\n'
}
