// EC2 error codes (clouds.md §3.2) and SDK/socket failures → the planner's error classes.
import t from 'tap'
import { classifyAwsError } from '../../../coordinator/providers/aws.js'

const sdk = (name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client'): unknown =>
  Object.assign(new Error(`${name} happened`), { name, $fault: fault, $metadata: { httpStatusCode: status } })

const rows: Array<[string, unknown, string]> = [
  ['InsufficientInstanceCapacity', sdk('InsufficientInstanceCapacity', 500), 'capacity'],
  ['InsufficientHostCapacity', sdk('InsufficientHostCapacity', 500), 'capacity'],
  ['InsufficientReservedInstanceCapacity', sdk('InsufficientReservedInstanceCapacity', 500), 'capacity'],
  ['InsufficientCapacity', sdk('InsufficientCapacity', 500), 'capacity'],
  ['UnfulfillableCapacity', sdk('UnfulfillableCapacity', 400), 'capacity'],
  ['Unsupported (type not in AZ)', sdk('Unsupported', 400), 'capacity'],
  ['VcpuLimitExceeded', sdk('VcpuLimitExceeded', 400), 'quota'],
  ['InstanceLimitExceeded', sdk('InstanceLimitExceeded', 400), 'quota'],
  ['RequestLimitExceeded', sdk('RequestLimitExceeded', 503), 'rate-limited'],
  ['InternalError', sdk('InternalError', 500), 'transient'],
  ['Unavailable', sdk('Unavailable', 503), 'transient'],
  ['ServiceUnavailable', sdk('ServiceUnavailable', 503), 'transient'],
  ['any other 5xx', sdk('SomethingNew', 502), 'transient'],
  ['InvalidInstanceID.NotFound', sdk('InvalidInstanceID.NotFound', 400), 'not-found'],
  ['IdempotentParameterMismatch', sdk('IdempotentParameterMismatch', 400), 'fatal'],
  ['AuthFailure', sdk('AuthFailure', 401), 'fatal'],
  ['UnauthorizedOperation', sdk('UnauthorizedOperation', 403), 'fatal'],
  ['InvalidParameterValue', sdk('InvalidParameterValue', 400), 'fatal'],
  ['socket reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'transient'],
  ['connection refused', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'transient'],
  ['SDK TimeoutError', Object.assign(new Error('t'), { name: 'TimeoutError' }), 'transient'],
]

for (const [name, err, cls] of rows) {
  t.test(name, async (t) => {
    const e = classifyAwsError(err)
    t.equal(e.errorClass, cls)
    t.ok(e.message.startsWith('EC2: '))
  })
}

t.test('the code is the EC2 error code', async (t) => {
  t.equal(classifyAwsError(sdk('InsufficientInstanceCapacity', 500)).code, 'InsufficientInstanceCapacity')
})
