// Writing a run's report: report.json (the data, 2-space JSON) and report.html (the same, drawn)
// side by side in one directory, created if missing.
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { renderHtml } from './html.js'
import type { Report } from './types.js'

/** Returns the absolute paths written. */
export async function writeReport (dir: string, r: Report): Promise<{ json: string, html: string }> {
  const root = resolve(dir)
  await mkdir(root, { recursive: true })
  const json = join(root, 'report.json')
  const html = join(root, 'report.html')
  await writeFile(json, `${JSON.stringify(r, null, 2)}\n`)
  await writeFile(html, renderHtml(r))
  return { json, html }
}
