// The HTTP plumbing the wire fakes share (Lambda server here; EC2 and GCP fakes in test/support):
// a loopback listener on a free port, bounded request bodies, and "hang" (a held response that
// close() tears down, so a test never leaks a socket).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

/** Request bodies beyond this are refused: the fakes serve small JSON/form payloads only. */
export const MAX_FAKE_BODY_BYTES = 1 << 20

export interface FakeHttpServer {
  readonly port: number
  /** http://127.0.0.1:<port> */
  readonly url: string
  close (): Promise<void>
}

export type FakeHandler = (req: IncomingMessage, body: string, res: ServerResponse) => void

export async function listenLoopback (handler: FakeHandler): Promise<FakeHttpServer> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_FAKE_BODY_BYTES) {
        res.writeHead(413).end()
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => {
      if (res.writableEnded) return
      try {
        handler(req, Buffer.concat(chunks).toString('utf8'), res)
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`fake server bug: ${String(err)}`)
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => { resolve() })
  })
  const addr = server.address()
  if (addr === null || typeof addr === 'string') throw new Error('fake server: no TCP address')
  return {
    port: addr.port,
    url: `http://127.0.0.1:${addr.port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => { resolve() })
    }),
  }
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body))
}
