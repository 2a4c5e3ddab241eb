// One question to the local agent over its admin socket, for every CLI command that asks one:
// where the socket is, the request, and what an operator reads when there is no answer, an error,
// or an answer of the wrong kind. The caller turns the outcome into its own exit code.
import { create } from '@bufbuild/protobuf'
import { AdminRequestSchema, type AdminRequest, type AdminResponse } from '../../proto/gen/shoal_pb.js'
import { adminRequest, AdminClientError, type AdminClientErrorCode } from '../admin/client.js'
import { ADMIN_PROTOCOL_VERSION, DEFAULT_ADMIN_SOCKET_PATH } from '../admin/protocol.js'
import type { Output } from './gpus.js'

/** The agent answers reads from memory; five seconds without an answer means it is wedged, not slow. */
export const READ_TIMEOUT_MS = 5_000

/** --socket, else SHOAL_ADMIN_SOCKET, else the default path. */
export function socketPathOf (flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? (env.SHOAL_ADMIN_SOCKET || DEFAULT_ADMIN_SOCKET_PATH)
}

type Answer = Exclude<AdminResponse['response'], { case: undefined } | { case: 'error' }>
type AnswerCase = Answer['case']
export type AnswerOf<C extends AnswerCase> = Extract<Answer, { case: C }>['value']

export type Asked<C extends AnswerCase> =
  | { ok: true, value: AnswerOf<C> }
  /** No answer: `client` says why (timeout, no agent, ...). Already reported on stderr. */
  | { ok: false, kind: 'unreachable', client: AdminClientErrorCode }
  /** The agent answered an AdminError (code as sent) or an answer of another kind. Already reported. */
  | { ok: false, kind: 'error', code: string, message: string }

export interface AskOptions<C extends AnswerCase> {
  socketPath: string
  request: Exclude<AdminRequest['request'], { case: undefined }>
  /** The answer expected, and how to name it when another comes ("a health report"). */
  expect: C
  what: string
  timeoutMs: number
}

export async function ask<C extends AnswerCase> (o: AskOptions<C>, io: Output): Promise<Asked<C>> {
  const request = create(AdminRequestSchema, { version: ADMIN_PROTOCOL_VERSION, request: o.request })
  let response: AdminResponse
  try {
    response = await adminRequest(o.socketPath, request, { timeoutMs: o.timeoutMs })
  } catch (err) {
    if (!(err instanceof AdminClientError)) throw err
    io.err(`shoal: ${err.message}\n`)
    return { ok: false, kind: 'unreachable', client: err.code }
  }
  const answer = response.response
  if (answer.case === 'error') {
    io.err(`shoal: the agent on ${o.socketPath} answered ${answer.value.code}: ${answer.value.message}\n`)
    return { ok: false, kind: 'error', code: answer.value.code, message: answer.value.message }
  }
  if (answer.case !== o.expect) {
    io.err(`shoal: the agent on ${o.socketPath} answered without ${o.what}\n`)
    return { ok: false, kind: 'error', code: 'internal', message: `answered ${answer.case ?? 'nothing'}` }
  }
  return { ok: true, value: answer.value as AnswerOf<C> }
}
