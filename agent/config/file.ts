// Reading agent.yaml from disk: a regular file, no larger than the loader accepts, read in one go.
// Every failure is a ConfigError naming the file, so `shoal agent` prints one kind of error.
import { open } from 'node:fs/promises'
import { ConfigError } from './errors.js'
import { CONFIG_MAX_BYTES, loadConfig, type AgentConfig, type LoadOptions } from './load.js'

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
}

export async function readConfigFile (path: string, options: LoadOptions = {}): Promise<AgentConfig> {
  return loadConfig(await readBoundedText(path, CONFIG_MAX_BYTES, 'a config'), path, options)
}

/** A regular file of at most maxBytes, as UTF-8; every failure a ConfigError naming the file. */
export async function readBoundedText (path: string, maxBytes: number, what: string): Promise<string> {
  const fail = (message: string): ConfigError => new ConfigError(path, [{ path: '', message }])
  try {
    const handle = await open(path, 'r')
    try {
      const stat = await handle.stat()
      if (!stat.isFile()) throw fail('is not a regular file')
      if (stat.size > maxBytes) throw fail(`is ${stat.size} bytes; ${what} is at most ${maxBytes} (${maxBytes % 1048576 === 0 ? `${maxBytes / 1048576} MiB` : `${Math.round(maxBytes / 1024)} KiB`})`)
      // One byte past the limit: a file that grew after stat is still caught by the parser.
      const buffer = Buffer.alloc(maxBytes + 1)
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
      return buffer.subarray(0, bytesRead).toString('utf8')
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code ?? ''
    throw fail(`cannot read: ${READ_ERRORS[code] ?? (err as Error).message}`)
  }
}
