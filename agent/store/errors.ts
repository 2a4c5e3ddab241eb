// The store's failures, each a class an operator can act on at 3 a.m.: every message names the
// directory, what went wrong and what to do. StoreError is the base, so `catch (e instanceof
// StoreError)` covers them all.

export class StoreError extends Error {
  override name = 'StoreError'
  /** The store directory (StoreConfig.dir). */
  readonly dir: string
  /** The underlying error's code (ENOTDIR, EACCES, LEVEL_IO_ERROR, ...), when it had one. */
  readonly code: string | undefined

  constructor (dir: string, message: string, options: { cause?: unknown, code?: string } = {}) {
    super(message, { cause: options.cause })
    this.dir = dir
    this.code = options.code
  }
}

export class StoreLockedError extends StoreError {
  override name = 'StoreLockedError'

  constructor (dir: string, cause?: unknown) {
    super(dir, `another shoal agent is using ${dir} (LevelDB lock held); stop it, or set store.dir to another directory`,
      { cause, code: 'LEVEL_LOCKED' })
  }
}

export class StoreCorruptError extends StoreError {
  override name = 'StoreCorruptError'
  /** What was damaged: 'LevelDB files', 'identity', 'meta', 'config snapshot'. */
  readonly damaged: string

  constructor (dir: string, damaged: string, detail: string, cause?: unknown) {
    super(dir, `the agent store at ${dir} is damaged: ${damaged}: ${detail}. ` +
      `Stop the agent and move ${dir} aside (keep it for diagnosis); the agent then starts with an ` +
      'empty store, which gives this host a new identity (a new peer id) and an empty journal. ' +
      'The agent never does this by itself.', { cause, code: codeOf(cause) })
    this.damaged = damaged
  }
}

export class StoreVersionError extends StoreError {
  override name = 'StoreVersionError'
  readonly found: number
  readonly supported: number

  constructor (dir: string, found: number, supported: number) {
    super(dir, `the agent store at ${dir} was written with store schema version ${found}, but this agent ` +
      `understands up to version ${supported}; it is not read, so it cannot be misinterpreted. ` +
      'Run the newer agent that wrote it, or set store.dir to another directory.')
    this.found = found
    this.supported = supported
  }
}

/** The `code` of an error or of its cause: level wraps open failures (pitfall 26). */
export function codeOf (err: unknown): string | undefined {
  const own = (err as { code?: unknown } | undefined)?.code
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code
  for (const code of [cause, own]) {
    // level's wrapper code says less than the cause's (LEVEL_DATABASE_NOT_OPEN vs LEVEL_LOCKED).
    if (typeof code === 'string' && code !== 'LEVEL_DATABASE_NOT_OPEN') return code
  }
  return typeof own === 'string' ? own : undefined
}

/** Maps an error from level or node:fs while `doing` something to the store's error classes. */
export function storeErrorFrom (err: unknown, dir: string, doing: string): StoreError {
  if (err instanceof StoreError) return err
  const code = codeOf(err)
  if (code === 'LEVEL_LOCKED') return new StoreLockedError(dir, err)
  const detail = innermostMessage(err)
  if (code === 'LEVEL_CORRUPTION') return new StoreCorruptError(dir, 'LevelDB files', detail, err)
  // Without a cause this is level's "Database is not open", not a failed open.
  if (code === 'LEVEL_DATABASE_NOT_OPEN' && (err as { cause?: unknown }).cause === undefined) {
    return new StoreError(dir, `cannot ${doing} the agent store at ${dir}: it is closed`, { cause: err, code })
  }
  // Node's fs messages start with their code already ("ENOTDIR: not a directory, mkdir '...'").
  const said = code !== undefined && detail.startsWith(`${code}:`) ? detail : `${code ?? 'error'}: ${detail}`
  return new StoreError(dir, `cannot ${doing} the agent store at ${dir}: ${said}`, { cause: err, code })
}

/** level could not decode a stored value with the sublevel's encoding (JSON that is not JSON). */
export function isDecodeError (err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'LEVEL_DECODE_ERROR'
}

function innermostMessage (err: unknown): string {
  const cause = (err as { cause?: unknown } | undefined)?.cause
  if (cause instanceof Error) return cause.message
  return err instanceof Error ? err.message : String(err)
}
