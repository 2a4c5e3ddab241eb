// The admin socket's framing: round trips, any chunking (seeded), the size limit, garbage.
import t from 'tap'
import { ADMIN_PROTOCOL_VERSION, encodeFrame, FrameDecoder, FrameTooLargeError, MAX_FRAME_BYTES } from '../../../agent/admin/frame.js'
import { mulberry32 } from '../gpu/fixtures/support.js'

function concat (parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

function header (length: number): Uint8Array {
  const h = new Uint8Array(4)
  new DataView(h.buffer).setUint32(0, length, false)
  return h
}

t.test('the protocol constants', async (t) => {
  t.equal(ADMIN_PROTOCOL_VERSION, 1)
  t.equal(MAX_FRAME_BYTES, 1024 * 1024)
})

t.test('a frame is a 4-byte big-endian length, then the bytes', async (t) => {
  t.same([...encodeFrame(new Uint8Array([7, 8, 9]))], [0, 0, 0, 3, 7, 8, 9])
  t.same([...encodeFrame(new Uint8Array(0))], [0, 0, 0, 0])
  const big = encodeFrame(new Uint8Array(0x010203))
  t.same([...big.subarray(0, 4)], [0, 1, 2, 3])
})

t.test('round trip: one frame per push, several per push, an empty frame', async (t) => {
  const payloads = [new Uint8Array([1]), new Uint8Array(0), new Uint8Array([2, 3, 4, 5, 6])]
  const one = new FrameDecoder()
  t.same(payloads.map((p) => one.push(encodeFrame(p))), payloads.map((p) => [p]))
  const all = new FrameDecoder()
  t.same(all.push(concat(payloads.map((p) => encodeFrame(p)))), payloads)
  t.equal(all.buffered, 0)
})

t.test('one byte at a time', async (t) => {
  const payload = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)
  const stream = concat([encodeFrame(payload), encodeFrame(payload)])
  const decoder = new FrameDecoder()
  const frames: Uint8Array[] = []
  const completedAt: number[] = []
  for (let i = 0; i < stream.length; i++) {
    const got = decoder.push(stream.subarray(i, i + 1))
    if (got.length > 0) completedAt.push(i)
    frames.push(...got)
  }
  t.same(completedAt, [303, 607], 'each frame completes on its last byte')
  t.same(frames, [payload, payload])
  t.equal(decoder.buffered, 0)
})

t.test('seeded random chunking of many frames gives back exactly the frames sent', async (t) => {
  const seed = 0xad1f4a3e
  t.comment(`seed ${seed}`)
  const rand = mulberry32(seed)
  for (let round = 0; round < 50; round++) {
    const payloads = Array.from({ length: 1 + Math.floor(rand() * 40) }, () =>
      Uint8Array.from({ length: Math.floor(rand() * (rand() < 0.1 ? 5000 : 60)) }, () => Math.floor(rand() * 256)))
    const stream = concat(payloads.map((p) => encodeFrame(p)))
    const decoder = new FrameDecoder()
    const frames: Uint8Array[] = []
    for (let at = 0; at < stream.length;) {
      const size = rand() < 0.3 ? 1 : 1 + Math.floor(rand() * 700)
      frames.push(...decoder.push(stream.subarray(at, at + size)))
      at += size
    }
    if (frames.length !== payloads.length || !frames.every((f, i) => Buffer.from(f).equals(Buffer.from(payloads[i] ?? [])))) {
      t.fail(`round ${round}: frames differ`)
      return
    }
    if (decoder.buffered !== 0) {
      t.fail(`round ${round}: ${decoder.buffered} bytes left over`)
      return
    }
  }
  t.pass('50 rounds')
})

t.test('frames handed out are copies: later pushes and buffer reuse do not change them', async (t) => {
  const decoder = new FrameDecoder()
  const chunk = encodeFrame(new Uint8Array([1, 2, 3]))
  const [frame] = decoder.push(chunk)
  chunk.fill(0)
  t.same([...(frame ?? [])], [1, 2, 3])
})

t.test('a declared length over the limit is an error, and the decoder stays broken', async (t) => {
  const decoder = new FrameDecoder()
  const err = t.throws(() => decoder.push(header(MAX_FRAME_BYTES + 1))) as unknown
  t.ok(err instanceof FrameTooLargeError)
  t.match((err as Error).message, /frame of 1048577 bytes declared, more than the 1048576 allowed/)
  t.throws(() => decoder.push(encodeFrame(new Uint8Array([1]))), FrameTooLargeError, 'no boundary to trust after a bad length')
  // Exactly the limit is allowed.
  const ok = new FrameDecoder(8)
  t.same(ok.push(encodeFrame(new Uint8Array(8))), [new Uint8Array(8)])
})

t.test('frames before a bad header in the same push come with the error', async (t) => {
  const decoder = new FrameDecoder(16)
  const good = [new Uint8Array([1]), new Uint8Array([2, 2])]
  try {
    decoder.push(concat([...good.map((g) => encodeFrame(g)), header(17), new Uint8Array(17)]))
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof FrameTooLargeError)
    t.same((err as FrameTooLargeError).frames, good)
    t.equal((err as FrameTooLargeError).declared, 17)
  }
})

t.test('the limit is checked on the header, before the body arrives', async (t) => {
  const decoder = new FrameDecoder()
  t.same(decoder.push(header(0xffffffff).subarray(0, 3)), [])
  t.throws(() => decoder.push(header(0xffffffff).subarray(3)), FrameTooLargeError)
})

t.test('encodeFrame refuses what the other end would refuse', async (t) => {
  t.throws(() => encodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)), FrameTooLargeError)
  t.throws(() => encodeFrame(new Uint8Array(9), 8), FrameTooLargeError)
})

t.test('garbage: seeded random bytes frame or fail with FrameTooLargeError, and every byte is accounted for', async (t) => {
  const seed = 0x6a5ba6e
  t.comment(`seed ${seed}`)
  const rand = mulberry32(seed)
  let framed = 0
  let refused = 0
  const problems: string[] = []
  for (let round = 0; round < 500; round++) {
    const decoder = new FrameDecoder(4096)
    // Zeros half the time, so some garbage declares small, acceptable lengths.
    const bytes = Uint8Array.from({ length: Math.floor(rand() * 200) }, () => rand() < 0.5 ? 0 : Math.floor(rand() * 256))
    let consumed = 0
    try {
      for (let at = 0; at < bytes.length;) {
        const size = 1 + Math.floor(rand() * 16)
        for (const frame of decoder.push(bytes.subarray(at, at + size))) {
          if (frame.length > 4096) problems.push(`round ${round}: a ${frame.length}-byte frame`)
          consumed += 4 + frame.length
          framed++
        }
        at += size
      }
      if (consumed + decoder.buffered !== bytes.length) problems.push(`round ${round}: ${consumed} + ${decoder.buffered} != ${bytes.length}`)
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err
      refused++
    }
  }
  t.same(problems, [])
  t.ok(framed > 0, `${framed} frames`)
  t.ok(refused > 0, `${refused} streams refused`)
})
