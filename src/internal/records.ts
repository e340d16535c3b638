import type { ExecutionLog, FlowStatus } from "../ExecutionLog.js"

/** A new flow's record: the one place that knows a fresh flow's defaults. */
export const newFlow = (fields: {
  readonly id: string
  readonly type: string
  readonly version: string | null
  readonly input: unknown
  readonly inputHash: string
  readonly status: FlowStatus
  readonly now: number
  readonly runAfter: number | null
  readonly parent?: { readonly id: string; readonly key: string } | undefined
  readonly priority?: number | undefined
  readonly attempts: number
}): ExecutionLog.FlowRecord => ({
  id: fields.id,
  type: fields.type,
  version: fields.version,
  input: fields.input,
  inputHash: fields.inputHash,
  status: fields.status,
  result: undefined,
  error: undefined,
  parentId: fields.parent?.id ?? null,
  parentKey: fields.parent?.key ?? null,
  priority: fields.priority ?? 0,
  runAfter: fields.runAfter,
  suspendReason: undefined,
  leaseOwner: null,
  leaseEpoch: 0,
  leaseExpiresAt: null,
  attempts: fields.attempts,
  createdAt: fields.now,
  updatedAt: fields.now,
  completedAt: null
})
