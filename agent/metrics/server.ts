// The Prometheus endpoint: GET /metrics and nothing else. A driver with bounded everything: small
// headers, short timeouts, few connections, request bodies never read.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP } from 'node:net'

/** What the server serves; AgentMetrics is one. */
export interface MetricsSource {
  readonly contentType: string
  metricsText(): Promise<string>
}

export interface ListenAt { readonly host: string, readonly port: number }

/**
 * Limits. A scrape is one small GET every 15-60 s from one or two Prometheus servers; anything
 * slower or bigger is a client gone wrong, and is cut off rather than served.
 */
export const METRICS_SERVER_LIMITS = {
  /** Whole request, headers included. */
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  /** Idle keep-alive sockets: Prometheus reuses its connection between scrapes 15 s apart or more. */
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  maxConnections: 64,
} as const

export class MetricsListenError extends Error {
  override name = 'MetricsListenError'
  readonly code: string
  constructor (message: string, code: string) {
    super(message)
    this.code = code
  }
}

const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'is in use',
  EADDRNOTAVAIL: 'is not an address of this host',
  EACCES: 'needs privileges (ports below 1024)',
}

export class MetricsServer {
  readonly #source: MetricsSource
  readonly #at: ListenAt
  readonly #server: Server
  #address: ListenAt | undefined

  constructor (source: MetricsSource, at: ListenAt) {
    this.#source = source
    this.#at = at
    this.#server = createServer({
      requestTimeout: METRICS_SERVER_LIMITS.requestTimeoutMs,
      headersTimeout: METRICS_SERVER_LIMITS.headersTimeoutMs,
      keepAliveTimeout: METRICS_SERVER_LIMITS.keepAliveTimeoutMs,
      maxHeaderSize: METRICS_SERVER_LIMITS.maxHeaderBytes,
    }, (req, res) => { this.#handle(req, res) })
    this.#server.maxConnections = METRICS_SERVER_LIMITS.maxConnections
  }

  /** Where it listens, once listening (the real port when asked for port 0). */
  get address (): ListenAt | undefined { return this.#address }

  async listen (): Promise<ListenAt> {
    const { host, port } = this.#at
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const what = LISTEN_ERRORS[err.code ?? '']
        const at = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
        reject(new MetricsListenError(`metrics.listen ${at} ${what ?? `failed: ${err.message}`}`, err.code ?? 'UNKNOWN'))
      }
      this.#server.once('error', onError)
      this.#server.listen({ host, port, exclusive: true }, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    const a = this.#server.address()
    this.#address = a !== null && typeof a === 'object' ? { host: a.address, port: a.port } : { host, port }
    return this.#address
  }

  async close (): Promise<void> {
    if (!this.#server.listening) return
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    // Keep-alive sockets would hold close() open until they time out.
    this.#server.closeAllConnections()
    await closed
    this.#address = undefined
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    // A request with a body is not a scrape; the body is never read, so the socket is not reused.
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) {
      res.setHeader('Connection', 'close')
    }
    const path = (req.url ?? '').split('?', 1)[0]
    if (path !== '/metrics') return reply(res, 404, 'not found: the metrics are at /metrics\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return reply(res, 405, 'method not allowed\n')
    }
    this.#source.metricsText().then((text) => {
      res.statusCode = 200
      res.setHeader('Content-Type', this.#source.contentType)
      res.setHeader('Content-Length', Buffer.byteLength(text))
      res.end(req.method === 'HEAD' ? undefined : text)
    }, (err: unknown) => {
      reply(res, 500, `metrics unavailable: ${err instanceof Error ? err.message : String(err)}\n`)
    })
  }
}

function reply (res: ServerResponse, status: number, text: string): void {
  res.statusCode = status
  res.setHeader('Content-Type', 'text/plain; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}
