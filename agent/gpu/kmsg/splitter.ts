// Turns the bytes of a regular file or FIFO holding /dev/kmsg records into record texts. A read of
// /dev/kmsg itself returns exactly one record, but a file returns many, cut anywhere: lines are
// split on `\n`, a line starting with a space is a continuation of the record before it, and a
// record is complete when the next one starts or when the reader has drained what is there now.
import { KMSG_RECORD_MAX_CHARS } from './record.js'

export type SplitItem =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: string; readonly line: string }

/** Bytes kept of an over-long line, for the rejection's `line`: enough to recognise it. */
const OVERLONG_SAMPLE_BYTES = 256
const NEWLINE = 0x0a
const SPACE = 0x20

export class RecordSplitter {
  /** Bytes of a line whose `\n` has not arrived yet; never more than KMSG_RECORD_MAX_CHARS. */
  #partial: Buffer[] = []
  #partialBytes = 0
  /** Set while skipping the rest of a line that outgrew the limit; holds its first bytes. */
  #overlong: Buffer | undefined
  /** The record being assembled (header line, then continuation lines). */
  #current: string | undefined

  /** Feeds bytes; returns the records completed by them. The chunk may be reused by the caller. */
  push (chunk: Uint8Array): SplitItem[] {
    const out: SplitItem[] = []
    let start = 0
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start)
      const end = nl === -1 ? chunk.length : nl
      this.#take(chunk.subarray(start, end))
      if (nl === -1) break
      this.#endLine(out)
      start = nl + 1
    }
    return out
  }

  /** The reader has drained the source for now: the record being assembled is complete. */
  flush (): SplitItem[] {
    if (this.#current === undefined) return []
    // A continuation line cut mid-way still belongs to the current record: wait for its end.
    if (this.#partial[0]?.[0] === SPACE) return []
    const text = this.#current
    this.#current = undefined
    return [{ ok: true, text }]
  }

  #take (bytes: Uint8Array): void {
    if (this.#overlong !== undefined || bytes.length === 0) return
    if (this.#partialBytes + bytes.length > KMSG_RECORD_MAX_CHARS) {
      const head = Buffer.concat([...this.#partial, bytes])
      this.#overlong = Buffer.from(head.subarray(0, OVERLONG_SAMPLE_BYTES))
      this.#partial = []
      this.#partialBytes = 0
      return
    }
    this.#partial.push(Buffer.from(bytes))
    this.#partialBytes += bytes.length
  }

  #endLine (out: SplitItem[]): void {
    if (this.#overlong !== undefined) {
      // Whatever it was, it ends the record before it, which goes out first to keep the order.
      if (this.#current !== undefined) out.push({ ok: true, text: this.#current })
      this.#current = undefined
      out.push({
        ok: false,
        reason: `line longer than the ${KMSG_RECORD_MAX_CHARS} bytes of a kernel record`,
        line: this.#overlong.toString('utf8'),
      })
      this.#overlong = undefined
      return
    }
    const line = Buffer.concat(this.#partial).toString('utf8')
    this.#partial = []
    this.#partialBytes = 0
    if (line === '') return
    if (!line.startsWith(' ')) {
      if (this.#current !== undefined) out.push({ ok: true, text: this.#current })
      this.#current = line
      return
    }
    if (this.#current === undefined) {
      out.push({ ok: false, reason: 'continuation line without a record before it', line })
      return
    }
    // Past the limit the record parser rejects it anyway; stop growing it so memory stays bounded.
    if (this.#current.length <= KMSG_RECORD_MAX_CHARS) this.#current += `\n${line}`
  }
}
