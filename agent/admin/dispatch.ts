// What the agent answers to one request frame: decode it, check the version and that it names an
// operation, ask the handler, encode the answer. No sockets here, so every path is tested (and
// fuzzed) without one; connection.ts carries frames in and out.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import {
  AdminErrorSchema,
  AdminRequestSchema,
  AdminResponseSchema,
  type AdminRequest,
  type AdminResponse,
} from '../../proto/gen/shoal_pb.js'
import { encodeFrame, FrameTooLargeError, MAX_FRAME_BYTES } from './frame.js'
import { ADMIN_PROTOCOL_VERSION, type AdminErrorCode } from './protocol.js'

/** Answers a decoded, version-checked request that names an operation. A throw becomes `internal`. */
export type AdminHandler = (request: AdminRequest) => Promise<AdminResponse>

export interface Answer {
  response: AdminResponse
  /** The response, framed, ready to write. */
  frame: Uint8Array
  /** Close the connection after writing: the request stream can no longer be trusted. */
  close: boolean
}

export function adminError (code: AdminErrorCode, message: string): AdminResponse {
  return create(AdminResponseSchema, {
    version: ADMIN_PROTOCOL_VERSION,
    response: { case: 'error', value: create(AdminErrorSchema, { code, message }) },
  })
}

/** The answer to a stream whose framing broke (a length over the limit): bad-request, then close. */
export function badFrameAnswer (err: FrameTooLargeError): Answer {
  return framed(adminError('bad-request', `bad frame: ${err.message}`), true)
}

export async function answerFrame (bytes: Uint8Array, handler: AdminHandler, maxResponseBytes = MAX_FRAME_BYTES): Promise<Answer> {
  let request: AdminRequest
  try {
    request = fromBinary(AdminRequestSchema, bytes)
  } catch (err) {
    return framed(adminError('bad-request', `cannot decode a ${bytes.length}-byte frame as shoal.v1.AdminRequest: ${messageOf(err)}`), true)
  }
  if (request.version !== ADMIN_PROTOCOL_VERSION) {
    return framed(adminError('unsupported-version', `client speaks v${request.version}, this agent v${ADMIN_PROTOCOL_VERSION}`), false)
  }
  if (request.request.case === undefined) {
    return framed(adminError('bad-request', 'the request names no operation this agent knows (empty, or from a newer shoal)'), true)
  }
  let response: AdminResponse
  try {
    response = await handler(request)
  } catch (err) {
    return framed(adminError('internal', messageOf(err)), false)
  }
  response.version = ADMIN_PROTOCOL_VERSION
  try {
    return framed(response, false, maxResponseBytes)
  } catch (err) {
    if (!(err instanceof FrameTooLargeError)) throw err
    return framed(adminError('internal', `the answer is ${err.declared} bytes, more than the ${err.max} a frame may carry; ask for less`), false)
  }
}

function framed (response: AdminResponse, close: boolean, max = MAX_FRAME_BYTES): Answer {
  return { response, frame: encodeFrame(toBinary(AdminResponseSchema, response), max), close }
}

function messageOf (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
