// The agent's admin socket: a Unix socket, owner/group only, answering framed AdminRequests through
// an injected handler. This file owns listening, the socket file and the limits; connection.ts owns
// one conversation; dispatch.ts decides each answer.
import { createServer, type Server, type Socket } from 'node:net'
import { chmod } from 'node:fs/promises'
import { isMainThread } from 'node:worker_threads'
import { toBinary } from '@bufbuild/protobuf'
import { AdminResponseSchema } from '../../proto/gen/shoal_pb.js'
import { assert } from '../lib/assert.js'
import { AdminConnection, type ConnectionLimits } from './connection.js'
import { adminError, type AdminHandler } from './dispatch.js'
import { encodeFrame, MAX_FRAME_BYTES } from './frame.js'
import { DEFAULT_ADMIN_SOCKET_MODE } from './protocol.js'
import { AdminSocketInUseError, prepareSocketPath, unlinkSocket } from './socket-file.js'

export { AdminSocketInUseError, AdminSocketPathError } from './socket-file.js'
export type { AdminHandler } from './dispatch.js'

/**
 * Requests are a few bytes (a health request is under ten); 64 KiB leaves room for the write
 * commands' reasons and filters while a client cannot make the agent hold a megabyte per connection.
 */
export const MAX_REQUEST_BYTES = 64 * 1024

/** An operator runs a handful of commands at once; a script might run dozens. More is a leak or abuse. */
export const DEFAULT_MAX_CONNECTIONS = 64

/** The CLI sends its request at once; a connection silent this long is abandoned. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000

/** Requests read ahead of the one being answered, before the agent stops reading from a client. */
const MAX_QUEUED_REQUESTS = 8

/** How long to wait for an existing socket to accept before calling it stuck (and refusing it). */
const PROBE_TIMEOUT_MS = 1_000

export interface AdminServerConfig {
  path: string
  /** Permission bits of the socket file; DEFAULT_ADMIN_SOCKET_MODE (0o660) unless given. */
  mode?: number
  maxConnections?: number
  idleTimeoutMs?: number
  maxRequestBytes?: number
  maxResponseBytes?: number
}

export class AdminServer {
  readonly path: string
  readonly #handler: AdminHandler
  readonly #mode: number
  readonly #maxConnections: number
  readonly #limits: ConnectionLimits
  readonly #connections = new Set<AdminConnection>()
  #server: Server | undefined

  constructor (handler: AdminHandler, config: AdminServerConfig) {
    this.#handler = handler
    this.path = config.path
    this.#mode = config.mode ?? DEFAULT_ADMIN_SOCKET_MODE
    this.#maxConnections = config.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.#limits = {
      maxRequestBytes: config.maxRequestBytes ?? MAX_REQUEST_BYTES,
      maxResponseBytes: config.maxResponseBytes ?? MAX_FRAME_BYTES,
      idleTimeoutMs: config.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      maxQueuedRequests: MAX_QUEUED_REQUESTS,
    }
  }

  /** Open connections, for tests and metrics. */
  get connections (): number {
    return this.#connections.size
  }

  /**
   * Throws AdminSocketInUseError when another agent answers on the path, AdminSocketPathError when
   * something other than a socket is there.
   */
  async listen (): Promise<void> {
    assert(this.#server === undefined, 'AdminServer.listen called twice')
    await prepareSocketPath(this.path, PROBE_TIMEOUT_MS)
    // Half-open allowed: a client may send its request and shut its side before the answer comes.
    const server = createServer({ allowHalfOpen: true }, (socket) => { this.#accept(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE' ? new AdminSocketInUseError(this.path) : err)
      })
      // bind() runs inside listen(), synchronously: with this umask the socket is born owner-only,
      // so there is no moment when others could connect before the chmod below. umask is
      // per-process (and refused in workers); owner-only cannot break anything created meanwhile.
      const previous = isMainThread ? process.umask(0o077) : undefined
      try {
        server.listen(this.path, () => { resolve() })
      } finally {
        if (previous !== undefined) process.umask(previous)
      }
    })
    this.#server = server
    await chmod(this.path, this.#mode)
  }

  /** Stops listening, ends every connection, removes the socket file. */
  async close (): Promise<void> {
    const server = this.#server
    if (server === undefined) return
    this.#server = undefined
    for (const connection of this.#connections) connection.destroy()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    // libuv unlinks the path it bound on close; this covers a server that could not.
    await unlinkSocket(this.path)
  }

  #accept (socket: Socket): void {
    if (this.#connections.size >= this.#maxConnections) {
      const busy = adminError('busy', `the agent already has ${this.#maxConnections} admin connections open; try again`)
      socket.on('error', () => {})
      socket.end(encodeFrame(toBinary(AdminResponseSchema, busy)), () => { socket.destroy() })
      return
    }
    const connection = new AdminConnection(socket, this.#handler, this.#limits, () => {
      this.#connections.delete(connection)
    })
    this.#connections.add(connection)
  }
}
