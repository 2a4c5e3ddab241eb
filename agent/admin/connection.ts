// One client's conversation on the admin socket: frames in, one answer per frame, in order. Requests
// are answered one at a time, so a client that pipelines gets its answers in the order it asked,
// and a client that floods is paused rather than buffered without bound.
import type { Socket } from 'node:net'
import { FrameDecoder, FrameTooLargeError } from './frame.js'
import { answerFrame, badFrameAnswer, type AdminHandler, type Answer } from './dispatch.js'

export interface ConnectionLimits {
  /** Largest request frame accepted. */
  maxRequestBytes: number
  /** Largest response frame sent; a bigger answer becomes an `internal` error. */
  maxResponseBytes: number
  /** Close a connection that has sent nothing and awaits nothing for this long. */
  idleTimeoutMs: number
  /** Stop reading from a client with this many requests waiting for an answer. */
  maxQueuedRequests: number
}

type Item = { frame: Uint8Array } | { broken: FrameTooLargeError }

export class AdminConnection {
  readonly #socket: Socket
  readonly #handler: AdminHandler
  readonly #limits: ConnectionLimits
  readonly #decoder: FrameDecoder
  #queue: Item[] = []
  #working = false
  /** No more requests will be read: the stream broke, or a bad request was answered. */
  #ending = false
  #peerEnded = false
  #closed = false

  constructor (socket: Socket, handler: AdminHandler, limits: ConnectionLimits, onClosed: () => void) {
    this.#socket = socket
    this.#handler = handler
    this.#limits = limits
    this.#decoder = new FrameDecoder(limits.maxRequestBytes)
    socket.setTimeout(limits.idleTimeoutMs)
    socket.on('timeout', () => { socket.destroy() })
    socket.on('data', (chunk: Buffer) => { this.#onData(chunk) })
    // The client half-closed: answer what it sent, then close our side.
    socket.on('end', () => {
      this.#peerEnded = true
      if (!this.#working) socket.end()
    })
    // A client that goes away mid-answer is its own business; 'close' follows and cleans up.
    socket.on('error', () => {})
    socket.on('close', () => {
      this.#closed = true
      this.#queue = []
      onClosed()
    })
  }

  destroy (): void {
    this.#socket.destroy()
  }

  #onData (chunk: Uint8Array): void {
    if (this.#ending) return
    try {
      for (const frame of this.#decoder.push(chunk)) this.#queue.push({ frame })
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err
      for (const frame of err.frames) this.#queue.push({ frame })
      this.#queue.push({ broken: err })
      this.#ending = true
    }
    if (this.#queue.length >= this.#limits.maxQueuedRequests) this.#socket.pause()
    void this.#work()
  }

  async #work (): Promise<void> {
    if (this.#working) return
    this.#working = true
    // Idle means the client's turn: no timeout while the agent works on an answer.
    this.#socket.setTimeout(0)
    for (let item = this.#queue.shift(); item !== undefined && !this.#closed; item = this.#queue.shift()) {
      if (this.#socket.isPaused() && this.#queue.length < this.#limits.maxQueuedRequests) this.#socket.resume()
      const answer: Answer = 'broken' in item
        ? badFrameAnswer(item.broken)
        : await answerFrame(item.frame, this.#handler, this.#limits.maxResponseBytes)
      if (this.#closed) break
      await this.#write(answer.frame)
      if (answer.close) {
        this.#ending = true
        this.#queue = []
        // Once the answer is with the kernel the client has it; do not wait for it to hang up.
        this.#socket.end(() => { this.#socket.destroy() })
      }
    }
    this.#working = false
    if (this.#closed || this.#ending) return
    if (this.#peerEnded) this.#socket.end()
    else this.#socket.setTimeout(this.#limits.idleTimeoutMs)
  }

  /** Resolves once the bytes are handed to the kernel, or the socket closed: never leaves us hanging. */
  async #write (bytes: Uint8Array): Promise<void> {
    if (this.#socket.write(bytes)) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.#socket.off('drain', done)
        this.#socket.off('close', done)
        resolve()
      }
      this.#socket.on('drain', done)
      this.#socket.on('close', done)
    })
  }
}
