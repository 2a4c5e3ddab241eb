// The CLI's side of the admin socket: one connection, one request, one response. Failures become an
// AdminClientError whose message tells an operator what to do, not just what the kernel said.
import { lstat } from 'node:fs/promises'
import { connect } from 'node:net'
import { fromBinary, toBinary } from '@bufbuild/protobuf'
import { AdminRequestSchema, AdminResponseSchema, type AdminRequest, type AdminResponse } from '../../proto/gen/shoal_pb.js'
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES } from './frame.js'

export type AdminClientErrorCode =
  | 'no-agent' // no socket file at the path
  | 'permission-denied' // the socket (or its directory) is not ours to use
  | 'stale-socket' // a socket file with nothing listening
  | 'timeout' // connected, or trying to, and no answer in time
  | 'closed' // the agent hung up without answering
  | 'bad-response' // the answer could not be read
  | 'connect-failed' // anything else the kernel refused

export class AdminClientError extends Error {
  override name = 'AdminClientError'
  constructor (readonly code: AdminClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export interface AdminRequestOptions {
  /** For the whole exchange: connecting, sending, answering. */
  timeoutMs: number
  maxResponseBytes?: number
}

export async function adminRequest (path: string, request: AdminRequest, options: AdminRequestOptions): Promise<AdminResponse> {
  const frame = encodeFrame(toBinary(AdminRequestSchema, request))
  const decoder = new FrameDecoder(options.maxResponseBytes ?? MAX_FRAME_BYTES)
  return await new Promise<AdminResponse>((resolve, reject) => {
    let connected = false
    let settled = false
    const socket = connect(path)
    const finish = (result: AdminResponse | AdminClientError): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (result instanceof AdminClientError) reject(result)
      else resolve(result)
    }
    const timer = setTimeout(() => {
      finish(new AdminClientError('timeout', `no answer from ${path} within ${options.timeoutMs} ms`))
    }, options.timeoutMs)
    socket.on('connect', () => {
      connected = true
      socket.write(frame)
    })
    socket.on('data', (chunk: Buffer) => {
      let first: Uint8Array | undefined
      try {
        first = decoder.push(chunk)[0]
      } catch (err) {
        finish(new AdminClientError('bad-response', `unreadable answer from ${path}: ${messageOf(err)}`, { cause: err }))
        return
      }
      if (first === undefined) return
      try {
        finish(fromBinary(AdminResponseSchema, first))
      } catch (err) {
        finish(new AdminClientError('bad-response', `unreadable answer from ${path}: ${messageOf(err)}`, { cause: err }))
      }
    })
    let failed = false
    socket.on('error', (err: NodeJS.ErrnoException) => {
      failed = true
      if (connected) {
        finish(new AdminClientError('closed', `the connection to ${path} failed before an answer: ${err.message}`, { cause: err }))
      } else if (err.code === 'ECONNREFUSED') {
        // Linux refuses a connect to a regular file the same way as to a stale socket: look.
        lstat(path).then((s) => s.isSocket(), () => true).then((isSocket) => { finish(connectError(path, err, isSocket)) }, () => {})
      } else {
        finish(connectError(path, err))
      }
    })
    socket.on('close', () => {
      if (!failed) finish(new AdminClientError('closed', `the agent on ${path} closed the connection without answering`))
    })
  })
}

/** What a failed connect to `path` means for an operator. Exported for tests of errors root cannot provoke. */
export function connectError (path: string, err: NodeJS.ErrnoException, isSocket = true): AdminClientError {
  switch (isSocket ? err.code : 'ENOTSOCK') {
    case 'ENOENT':
      return new AdminClientError('no-agent',
        `no shoal agent is listening on ${path} (is \`shoal agent\` running? set --socket or SHOAL_ADMIN_SOCKET)`, { cause: err })
    case 'EACCES':
    case 'EPERM':
      return new AdminClientError('permission-denied',
        `permission denied on ${path}: the admin socket is owner/group only; run as root or a member of its group`, { cause: err })
    case 'ECONNREFUSED':
      return new AdminClientError('stale-socket',
        `nothing is listening on ${path}: the socket file is stale, left by an agent that stopped (is \`shoal agent\` running?)`, { cause: err })
    case 'ENOTSOCK':
      return new AdminClientError('connect-failed', `${path} is not a socket: is that the admin socket? set --socket or SHOAL_ADMIN_SOCKET`, { cause: err })
    default:
      return new AdminClientError('connect-failed', `cannot connect to ${path}: ${err.message}`, { cause: err })
  }
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
