// Generated sections inside hand-written Markdown: the text between
// `<!-- BEGIN <name> (generated ...) -->` and `<!-- END <name> -->` belongs to a renderer.

export function beginMarker (name: string, command: string): string {
  return `<!-- BEGIN ${name} (generated: ${command}; do not edit by hand) -->`
}

export function endMarker (name: string): string {
  return `<!-- END ${name} -->`
}

/** `doc` with the section `name` replaced by `body`; throws if the markers are missing. */
export function replaceGenerated (doc: string, name: string, command: string, body: string): string {
  const end = endMarker(name)
  const startAt = doc.indexOf(`<!-- BEGIN ${name} `)
  const endAt = doc.indexOf(end)
  if (startAt < 0 || endAt < startAt) throw new Error(`markers for "${name}" not found`)
  return `${doc.slice(0, startAt)}${beginMarker(name, command)}\n${body.trimEnd()}\n${doc.slice(endAt)}`
}
