// The admin socket's path on disk: make its directory, refuse a path another agent answers on or
// that is not a socket, clear a stale one. Two agents on one host would each think it owns the GPUs.
import { connect } from 'node:net'
import { lstat, mkdir, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

export class AdminSocketInUseError extends Error {
  override name = 'AdminSocketInUseError'
  constructor (readonly path: string) {
    super(`another shoal agent answers on ${path}`)
  }
}

export class AdminSocketPathError extends Error {
  override name = 'AdminSocketPathError'
  constructor (readonly path: string, what: string) {
    super(`${path} exists and is ${what}, not a socket; refusing to remove it: move it away or choose another admin socket path`)
  }
}

/** Owner rwx, group r-x: the group the socket is shared with can reach it, others cannot. */
const DIRECTORY_MODE = 0o750

/** Readies `path` for listen(): afterwards nothing exists there. */
export async function prepareSocketPath (path: string, probeTimeoutMs: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: DIRECTORY_MODE })
  const stat = await lstatOrUndefined(path)
  if (stat === undefined) return
  if (!stat.isSocket()) throw new AdminSocketPathError(path, describe(stat))
  if (await answers(path, probeTimeoutMs)) throw new AdminSocketInUseError(path)
  await unlinkSocket(path)
}

/** Removes `path` if it is a socket; anything else there is left alone. */
export async function unlinkSocket (path: string): Promise<void> {
  const stat = await lstatOrUndefined(path)
  if (stat === undefined || !stat.isSocket()) return
  try {
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

/**
 * Whether something accepts connections on the socket. Refused means stale (its listener is gone).
 * EAGAIN (a full backlog) or no verdict within the timeout means a listener that is alive but
 * stuck, which is still not ours to replace.
 */
async function answers (path: string, timeoutMs: number): Promise<boolean> {
  return await new Promise<boolean>((resolve, reject) => {
    const socket = connect(path)
    const done = (result: boolean | Error): void => {
      clearTimeout(timer)
      socket.destroy()
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    const timer = setTimeout(() => { done(true) }, timeoutMs)
    socket.once('connect', () => { done(true) })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done(false)
      else if (err.code === 'EAGAIN') done(true)
      else done(new Error(`cannot tell whether an agent answers on ${path}: ${err.message}`, { cause: err }))
    })
  })
}

async function lstatOrUndefined (path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

function describe (stat: Awaited<ReturnType<typeof lstat>>): string {
  if (stat.isFile()) return 'a regular file'
  if (stat.isDirectory()) return 'a directory'
  if (stat.isSymbolicLink()) return 'a symbolic link'
  return 'something else'
}
