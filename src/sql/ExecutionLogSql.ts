/**
 * The `ExecutionLog` over `@effect/sql`: one backend for SQLite and PostgreSQL.
 *
 * The Layer needs a `SqlClient` (from `SqliteClient.layer`, `PgClient.layer`, or `ergon/sqlite`),
 * applies the store's migrations, and provides `ExecutionLog`. Every statement is written in the
 * SQL both dialects accept; what differs lives in `Dialect` (see `./migrations.js`).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Connection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createHash } from "node:crypto"
import type {
  ClaimOptions,
  Encoded,
  EntryKind,
  ExecutionRow,
  FlowFilter,
  FlowGroup,
  FlowRow,
  FlowStatus,
  FlowWithSteps,
  Replays,
  SignalRow,
  StepRow,
  StepStatus,
  WorkerRow
} from "../ExecutionLog.js"
import { ExecutionLog, makeUnsafe } from "../ExecutionLog.js"
import { type FlowEndedError, FlowNotFoundError, StoreError } from "../FlowError.js"
import { COMPENSABLE_KEY, compareClaimOrder, signalRefused } from "../internal/executionLog.js"
import type * as json from "../internal/json.js"
import * as GroupCommit from "./groupCommit.js"
import * as Migrations from "./migrations.js"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

// `SqlError` and `MigrationError` carry the driver's error as `cause`: name both, and the
// driver's code (`SQLITE_READONLY`, a PostgreSQL SQLSTATE) when there is one.
const describe = (cause: unknown, depth = 0): string => {
  if (!(cause instanceof Error)) return String(cause)
  const code = (cause as { readonly code?: unknown }).code
  const message = cause.message.trim()
  const text = typeof code === "string" ? `${message} (${code})` : message
  const inner = (cause as { readonly cause?: unknown }).cause
  return inner === undefined || depth >= 3 ? text : `${text}: ${describe(inner, depth + 1)}`
}

/**
 * Builds the `StoreError` for a failure of `operation`. The detail gives the error's message
 * followed by the driver's own message and code underneath it (`SQLITE_READONLY`, a PostgreSQL
 * SQLSTATE), prefixed with `context` when given.
 *
 * @since 0.1.0
 * @category Errors
 */
export const storeError = (operation: string, cause: unknown, context?: string | undefined): StoreError =>
  new StoreError({
    operation,
    detail: context === undefined ? describe(cause) : `${context}: ${describe(cause)}`,
    cause
  })

/** Maps failures and driver defects (better-sqlite3 throws) to `StoreError`; interruption passes. */
const guard = (operation: string) => {
  const onError = (cause: unknown): StoreError => storeError(operation, cause)
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, StoreError, R> =>
    effect.pipe(
      Effect.mapError(onError),
      Effect.catchAllDefect((defect) => Effect.fail(onError(defect)))
    )
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

type Row = Record<string, unknown>

// Integers come back as numbers (SQLite), bigints (SQLite with `SafeIntegers`) or strings
// (PostgreSQL `BIGINT`): all become numbers. Times are far below 2^53.
const num = (value: unknown): number => (typeof value === "number" ? value : Number(value))
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : num(value))
const textOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value))

const flowColumns = [
  "id",
  "type",
  "version",
  "input",
  "input_hash",
  "status",
  "result",
  "error",
  "parent_id",
  "parent_key",
  "priority",
  "run_after",
  "suspend_reason",
  "lease_owner",
  "lease_epoch",
  "lease_expires_at",
  "attempts",
  "created_at",
  "updated_at",
  "completed_at",
  "cancel_reason",
  "execution",
  "trace_context",
  "ran_version",
  "cancel_requested_at"
] as const

const stepColumns = [
  "flow_id",
  "key",
  "input_hash",
  "status",
  "exit",
  "attempts",
  "next_attempt_at",
  "started_at",
  "completed_at",
  "kind",
  "scope",
  "position",
  "seq",
  "input"
] as const

const flowParams = (row: FlowRow): ReadonlyArray<unknown> => [
  row.id,
  row.type,
  row.version,
  row.input,
  row.inputHash,
  row.status,
  row.result,
  row.error,
  row.parentId,
  row.parentKey,
  row.priority,
  row.runAfter,
  row.suspendReason,
  row.leaseOwner,
  row.leaseEpoch,
  row.leaseExpiresAt,
  row.attempts,
  row.createdAt,
  row.updatedAt,
  row.completedAt,
  row.cancelReason ?? null,
  row.execution ?? 1,
  row.traceContext ?? null,
  row.ranVersion ?? null,
  row.cancelRequestedAt ?? null
]

const stepParams = (row: StepRow): ReadonlyArray<unknown> => [
  row.flowId,
  row.key,
  row.inputHash,
  row.status,
  row.exit,
  row.attempts,
  row.nextAttemptAt,
  row.startedAt,
  row.completedAt,
  row.kind ?? null,
  row.scope ?? null,
  row.position ?? null,
  row.seq ?? null,
  row.input ?? null
]

const flowFromRow = (row: Row): FlowRow => ({
  id: String(row.id),
  type: String(row.type),
  version: textOrNull(row.version),
  input: textOrNull(row.input) ?? "null",
  inputHash: String(row.input_hash),
  status: row.status as FlowStatus,
  result: textOrNull(row.result),
  error: textOrNull(row.error),
  parentId: textOrNull(row.parent_id),
  parentKey: textOrNull(row.parent_key),
  priority: num(row.priority),
  runAfter: numOrNull(row.run_after),
  suspendReason: textOrNull(row.suspend_reason),
  leaseOwner: textOrNull(row.lease_owner),
  leaseEpoch: num(row.lease_epoch),
  leaseExpiresAt: numOrNull(row.lease_expires_at),
  attempts: num(row.attempts),
  createdAt: num(row.created_at),
  updatedAt: num(row.updated_at),
  completedAt: numOrNull(row.completed_at),
  traceContext: textOrNull(row.trace_context),
  ranVersion: textOrNull(row.ran_version),
  // Present only when they say something (a reason given; an execution after the first), so a row
  // reads back as it was written.
  ...(row.cancel_reason === null || row.cancel_reason === undefined ? {} : { cancelReason: String(row.cancel_reason) }),
  ...(row.execution === null || row.execution === undefined || num(row.execution) === 1 ? {} : { execution: num(row.execution) }),
  ...(row.cancel_requested_at === null || row.cancel_requested_at === undefined ? {} : { cancelRequestedAt: num(row.cancel_requested_at) })
})

const signalColumns = ["flow_id", "name", "seq", "payload", "consumed_by", "created_at"] as const

const signalFromRow = (row: Row): SignalRow => ({
  flowId: String(row.flow_id),
  name: String(row.name),
  seq: num(row.seq),
  payload: textOrNull(row.payload) ?? "null",
  consumedBy: textOrNull(row.consumed_by),
  createdAt: num(row.created_at)
})

const workerColumns = [
  "id",
  "name",
  "version",
  "types",
  "timers",
  "signals",
  "host",
  "pid",
  "concurrency",
  "in_flight",
  "started_at",
  "heartbeat_at",
  "expires_at",
  "pins"
] as const

const workerParams = (row: WorkerRow): ReadonlyArray<unknown> => [
  row.id,
  row.name,
  row.version,
  JSON.stringify(row.types),
  row.timers ? 1 : 0,
  row.signals ? 1 : 0,
  row.host,
  row.pid,
  row.concurrency,
  row.inFlight,
  row.startedAt,
  row.heartbeatAt,
  row.expiresAt,
  row.pins === undefined ? null : JSON.stringify(row.pins)
]

// `types` is a JSON array written by `workerParams`; a row that is not (edited by hand) fails the
// read with a `StoreError` through the operation's guard.
const workerFromRow = (row: Row): WorkerRow => {
  const types: unknown = JSON.parse(String(row.types))
  if (!Array.isArray(types)) throw new Error(`the worker '${String(row.id)}' has types that are not a JSON array`)
  const pins: unknown = row.pins === null || row.pins === undefined ? undefined : JSON.parse(String(row.pins))
  if (pins !== undefined && (typeof pins !== "object" || pins === null || Array.isArray(pins))) {
    throw new Error(`the worker '${String(row.id)}' has pins that are not a JSON object`)
  }
  return {
    ...(pins === undefined ? {} : {
      pins: Object.fromEntries(
        Object.entries(pins as Record<string, unknown>).map(([type, versions]) => [
          type,
          Array.isArray(versions) ? versions.map(String) : []
        ])
      )
    }),
    id: String(row.id),
    name: String(row.name),
    version: textOrNull(row.version),
    types: types.map(String),
    timers: num(row.timers) !== 0,
    signals: num(row.signals) !== 0,
    host: String(row.host),
    pid: num(row.pid),
    concurrency: num(row.concurrency),
    inFlight: num(row.in_flight),
    startedAt: num(row.started_at),
    heartbeatAt: num(row.heartbeat_at),
    expiresAt: num(row.expires_at)
  }
}

// Step columns of the `loadFlow` join, prefixed `s_` so they do not clash with the flow's.
/** A flow row read as an array, in `flowColumns` order. */
const flowFromValues = (values: ReadonlyArray<unknown>): FlowRow => {
  const row: Row = {}
  flowColumns.forEach((column, i) => (row[column] = values[i]))
  return flowFromRow(row)
}

/** A journal entry read as an array after the flow's columns (`stepColumns` without `flow_id`). */
const stepFromValues = (flowId: string, values: ReadonlyArray<unknown>): StepRow => {
  const at = flowColumns.length
  return {
    flowId,
    key: String(values[at]),
    inputHash: textOrNull(values[at + 1]),
    status: values[at + 2] as StepStatus,
    exit: textOrNull(values[at + 3]),
    attempts: num(values[at + 4]),
    nextAttemptAt: numOrNull(values[at + 5]),
    startedAt: numOrNull(values[at + 6]),
    completedAt: numOrNull(values[at + 7]),
    // Absent (not `undefined`) on entries written before the store recorded them.
    ...entryMeta(values[at + 8], values[at + 9], values[at + 10], values[at + 11], values[at + 12])
  }
}

const entryMeta = (
  kind: unknown,
  scope: unknown,
  position: unknown,
  seq: unknown,
  input: unknown
): Pick<StepRow, "kind" | "scope" | "position" | "seq" | "input"> => {
  const meta: { -readonly [K in "kind" | "scope" | "position" | "seq" | "input"]?: StepRow[K] } = {}
  if (input !== null && input !== undefined) meta.input = String(input)
  if (kind !== null && kind !== undefined) meta.kind = String(kind) as EntryKind
  if (scope !== null && scope !== undefined) meta.scope = String(scope)
  if (position !== null && position !== undefined) meta.position = num(position)
  if (seq !== null && seq !== undefined) meta.seq = num(seq)
  return meta
}

// ---------------------------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------------------------

const quote = (column: string): string => (column === "key" ? `"key"` : column)
const flowColumnList = flowColumns.join(", ")

/** Whether the flow of the row being updated registered compensations (its journal has the marker). */
const COMPENSABLE = `EXISTS (SELECT 1 FROM ergon_steps WHERE ergon_steps.flow_id = ergon_flows.id AND ergon_steps."key" = '${COMPENSABLE_KEY}')`
// A listing's or a claim's columns: the flow's state, its payloads read as NULL (never loaded).
const payloadColumns: ReadonlySet<string> = new Set(["input", "result", "error"])
const stateColumnList = flowColumns.map((column) => (payloadColumns.has(column) ? `NULL AS ${column}` : column)).join(", ")
const claimColumnList = flowColumns.map((column) =>
  payloadColumns.has(column) && column !== "input" ? `NULL AS ${column}` : column
).join(", ")
const stepColumnList = stepColumns.map(quote).join(", ")
const selectFlow = flowColumns.map((column) => `f.${column}`).join(", ")
const selectSteps = stepColumns.slice(1).map((column) => `s.${quote(column)}`).join(", ")
const nullFlow = flowColumns.map(() => "NULL").join(", ")
const nullSteps = stepColumns.slice(1).map(() => "NULL").join(", ")

// SQL types of the step columns, cast explicitly in `INSERT ... SELECT` (PostgreSQL cannot infer
// the type of a bare parameter in a select list).
const stepCasts = [
  "TEXT",
  "TEXT",
  "TEXT",
  "TEXT",
  "TEXT",
  "INTEGER",
  "BIGINT",
  "BIGINT",
  "BIGINT",
  "TEXT",
  "TEXT",
  "INTEGER",
  "BIGINT",
  "TEXT"
] as const

const signalColumnList = signalColumns.join(", ")

// How many times `insertSignal` tries again when a concurrent sender took the same `seq`.
const insertSignalAttempts = 5

// A `limit` as `Array.slice` reads it: `Infinity` is no limit, `NaN` none.
const sqlLimit = (requested: number): number =>
  Number.isFinite(requested)
    ? Math.max(0, Math.floor(requested))
    : requested > 0
    ? Number.MAX_SAFE_INTEGER
    : 0

const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** What the insert of a signal found: sent, or refused (the flow's status, `null` when there is no flow). */
type SignalInsert = { readonly _tag: "Sent"; readonly seq: number } | { readonly _tag: "Refused"; readonly status: string | null }

// ---------------------------------------------------------------------------------------------
// Prepared statements (PostgreSQL, inside group commit)
// ---------------------------------------------------------------------------------------------

/** The part of a node-postgres client a batch uses. */
interface PgQueryable {
  readonly query: (
    config: { readonly name: string; readonly text: string; readonly values: ReadonlyArray<unknown>; readonly rowMode?: "array" },
    callback: (error: Error | null, result: { readonly rows: ReadonlyArray<unknown>; readonly rowCount: number | null }) => void
  ) => unknown
}

/** The node-postgres client under a connection reserved from `@effect/sql-pg`, when it shows one. */
const pgClientOf = (connection: Connection.Connection): PgQueryable | undefined => {
  const client = (connection as { readonly pg?: unknown }).pg
  return typeof client === "object" && client !== null && typeof (client as { query?: unknown }).query === "function"
    ? client as PgQueryable
    : undefined
}

/** How a statement's result is read: rows as objects, the driver's raw result, rows as arrays. */
type ResultMode = "rows" | "raw" | "values"

/**
 * Runs a statement on a connection. A statement with a `name` (one of the store's fixed
 * statements) runs as a named prepared statement when the connection is a node-postgres one:
 * parsed and planned once per connection instead of at every call (~0.2–0.3 ms of the server's CPU
 * each, for the checkpoint upsert and the journal load). Otherwise, through the connection.
 */
const runOn = (
  connection: Connection.Connection,
  name: string | undefined,
  text: string,
  values: ReadonlyArray<unknown>,
  mode: ResultMode
): Effect.Effect<unknown, SqlError> => {
  const client = name === undefined ? undefined : pgClientOf(connection)
  if (client === undefined) {
    return mode === "rows"
      ? connection.execute(text, values, undefined)
      : mode === "raw"
      ? connection.executeRaw(text, values)
      : connection.executeValues(text, values)
  }
  return Effect.async<unknown, SqlError>((resume) => {
    client.query(
      mode === "values" ? { name: name!, text, values, rowMode: "array" } : { name: name!, text, values },
      (error, result) => {
        if (error !== null && error !== undefined) {
          resume(Effect.fail(new SqlError({ cause: error, message: "Failed to execute statement" })))
        } else resume(Effect.succeed(mode === "raw" ? result : result.rows))
      }
    )
  })
}

/** The name of a fixed statement's prepared form: from its text, so equal texts share it. */
const statementName = (text: string): string => `ergon_${createHash("sha1").update(text).digest("hex").slice(0, 24)}`

// PostgreSQL: the checkpoint upserts of one batch of group commit as one statement, the rows
// passed as one array per column (`unnest`), each with its fence (owner and epoch, NULL when
// unfenced). It writes what each of them would have written alone (see `putStepSql`), and
// returns the rows it inserted or updated: the entries whose write applied.
const putStepsSql = (() => {
  const types = [...stepCasts.map((cast) => cast.toLowerCase()), "text", "bigint"]
  const names = [...stepColumns.map(quote), "fence_owner", "fence_epoch"]
  return `INSERT INTO ergon_steps (${stepColumnList}) SELECT ${stepColumns.map((column) => `v.${quote(column)}`).join(", ")} FROM unnest(${
    types.map((type, i) => `$${i + 1}::${type}[]`).join(", ")
  }) AS v(${names.join(", ")}) WHERE EXISTS (SELECT 1 FROM ergon_flows f WHERE f.id = v.flow_id AND (v.fence_owner IS NULL OR (f.lease_owner = v.fence_owner AND f.lease_epoch = v.fence_epoch))) ON CONFLICT (flow_id, "key") DO UPDATE SET ${
    stepColumns.slice(2).map((column) => `${quote(column)} = excluded.${quote(column)}`).join(", ")
  } WHERE ergon_steps.status <> 'completed' RETURNING flow_id, "key"`
})()

const putStepsName = statementName(putStepsSql)

/** The parameters of one checkpoint upsert for `putStepsSql`: its columns, then its fence. */
const putStepParams = (row: StepRow, fence: { readonly owner: string; readonly epoch: number } | undefined): ReadonlyArray<unknown> => [
  ...stepParams(row),
  fence === undefined ? null : fence.owner,
  fence === undefined ? null : fence.epoch
]

/**
 * Merges the checkpoint upserts of a batch (parameters from `putStepParams`) into one
 * `putStepsSql`, each getting whether its write applied. Two upserts of one entry in a batch
 * cannot share the statement (PostgreSQL refuses to update a row twice in one): they run one by one.
 */
const putStepsMany: GroupCommit.Coalescer = (connection, params) => {
  const seen = new Set<string>()
  for (const row of params) {
    const id = `${String(row[0])}\u0000${String(row[1])}`
    if (seen.has(id)) return Effect.succeed(undefined)
    seen.add(id)
  }
  const columns: Array<Array<unknown>> = []
  for (let c = 0; c < stepColumns.length + 2; c++) columns.push(params.map((row) => row[c] ?? null))
  return Effect.map(runOn(connection, putStepsName, putStepsSql, columns, "raw"), (raw) => {
    const rows = ((raw as { readonly rows?: ReadonlyArray<Row> }).rows ?? [])
    const written = new Set(rows.map((row) => `${String(row.flow_id)}\u0000${String(row.key)}`))
    return params.map((row) => written.has(`${String(row[0])}\u0000${String(row[1])}`))
  })
}

// PostgreSQL: the flow updates (`updateFlow` without a parent to wake: completions, failures,
// suspensions for a retry) of one batch of group commit, one statement per set of patched columns,
// the rows passed as arrays (`unnest`), each with its fence. Each row is updated as it would have
// been alone (not a cancelled flow; under its own lease when fenced), and `RETURNING` tells which were.
const patchColumns = [
  ["status", "text"],
  ["result", "text"],
  ["error", "text"],
  ["run_after", "bigint"],
  ["suspend_reason", "text"],
  ["completed_at", "bigint"]
] as const
/** `attempts = attempts + 1` in a patch's mask (the bits below are `patchColumns`). */
const INCREMENT_ATTEMPTS = 1 << patchColumns.length

const updateFlowsStatements = new Map<number, { readonly text: string; readonly name: string }>()
/** The merged update of the patches with this mask (bit i: `patchColumns[i]` is set). */
const updateFlowsStatement = (mask: number): { readonly text: string; readonly name: string } => {
  const cached = updateFlowsStatements.get(mask)
  if (cached !== undefined) return cached
  const columns = patchColumns.filter((_, i) => (mask & (1 << i)) !== 0)
  const sets = [
    ...columns.map(([column]) => `${column} = v.${column}`),
    ...((mask & INCREMENT_ATTEMPTS) !== 0 ? ["attempts = f.attempts + 1"] : []),
    "updated_at = v.updated_at"
  ]
  const names = ["id", ...columns.map(([column]) => column), "updated_at", "fence_owner", "fence_epoch"]
  const types = ["text", ...columns.map(([, type]) => type), "bigint", "text", "bigint"]
  const text = `UPDATE ergon_flows f SET ${sets.join(", ")} FROM unnest(${
    types.map((type, i) => `$${i + 1}::${type}[]`).join(", ")
  }) AS v(${names.join(", ")}) WHERE f.id = v.id AND f.status <> 'cancelled' AND (v.fence_owner IS NULL OR (f.lease_owner = v.fence_owner AND f.lease_epoch = v.fence_epoch)) RETURNING f.id`
  const statement = { text, name: statementName(text) }
  updateFlowsStatements.set(mask, statement)
  return statement
}

/**
 * Merges the flow updates of a batch (parameters: the patch's mask, the flow's id, the patched
 * values in `patchColumns` order, `updated_at`, the fence's owner and epoch or NULLs), one
 * statement per mask, each getting whether its update applied. Two updates of one flow in a batch
 * cannot share a statement (an `UPDATE … FROM` would apply one of them): they run one by one.
 */
const updateFlowsMany: GroupCommit.Coalescer = (connection, params) =>
  Effect.suspend(() => {
    const ids = new Set<string>()
    const byMask = new Map<number, Array<number>>()
    for (let i = 0; i < params.length; i++) {
      const id = String(params[i]![1])
      if (ids.has(id)) return Effect.succeed(undefined)
      ids.add(id)
      const mask = params[i]![0] as number
      const at = byMask.get(mask)
      if (at === undefined) byMask.set(mask, [i])
      else at.push(i)
    }
    const results: Array<boolean> = new Array(params.length).fill(false)
    return Effect.as(
      Effect.forEach(byMask, ([mask, at]) => {
        const statement = updateFlowsStatement(mask)
        const width = at.length === 0 ? 0 : params[at[0]!]!.length - 1
        const columns: Array<Array<unknown>> = []
        for (let c = 0; c < width; c++) columns.push(at.map((i) => params[i]![c + 1] ?? null))
        return Effect.map(runOn(connection, statement.name, statement.text, columns, "raw"), (raw) => {
          const updated = new Set(((raw as { readonly rows?: ReadonlyArray<Row> }).rows ?? []).map((row) => String(row.id)))
          for (const i of at) results[i] = updated.has(String(params[i]![1]))
        })
      }, { discard: true }),
      results
    )
  })

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options extends json.LimitsOptions {
  /**
   * Group commit: the writes of concurrent flows share one transaction, so one durable commit
   * serves many checkpoints; each flow goes on only once its own write is committed. Writes made
   * inside a caller's `SqlClient.withTransaction` are never grouped. On PostgreSQL the
   * checkpoint upserts of a batch are also merged into one multi-row statement. Default: on
   * (SQLite: one commit, one wait for the disk, for many; PostgreSQL: a round trip and a commit
   * for many, where the engine, not the server, is what limits a worker).
   */
  readonly groupCommit?: boolean | undefined
  /**
   * PostgreSQL, with group commit: how many batches may be written at once, each on its own
   * connection of the pool. Default 1 (measured best: a second lane splits the batches, and every
   * batch pays its round trips).
   */
  readonly groupCommitLanes?: number | undefined
}

/**
 * Builds a backend over the `SqlClient` in context. It does not run migrations (see `layer` and
 * `migrate`).
 *
 * Each operation is one statement, except `takeSignal` (a read for replay, then a one-statement
 * take), `retryFlow` (an update, then a delete, in one transaction) and `updateFlow` with
 * `wakeParent` (the update, then the parent's wake-up, in one transaction). Claims are one statement
 * so that they are atomic across processes without an explicit transaction. The fixed statements
 * are compiled once, here, for the client's dialect, so a call only binds its parameters (and the
 * driver reuses its prepared statement). With group commit (`Options.groupCommit`), statements
 * of concurrent fibers share transactions; see `./groupCommit.js`.
 * Results are read without the client's name transforms, whatever they are.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeWith = (options: Options = {}): Effect.Effect<Encoded, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (client): Encoded => {
    const sql = client.withoutTransforms()
    const dialect = Migrations.dialectOf(sql)
    const pg = dialect.name === "pg"
    const group = (options.groupCommit ?? true)
      ? GroupCommit.make(
        sql,
        pg
          ? { begin: "BEGIN", lanes: options.groupCommitLanes ?? 1, coalesce: { putStep: putStepsMany, updateFlow: updateFlowsMany } }
          : { begin: "BEGIN IMMEDIATE" }
      )
      : undefined
    // The store's fixed statements, by text: their prepared statements' names (PostgreSQL; see `runOn`).
    const names = new Map<string, string>()
    const nameOf = (text: string): string | undefined => (pg ? names.get(text) : undefined)
    // Statements run through group commit when it is on, and through the client's own path when off.
    const query = (text: string, values: ReadonlyArray<unknown>, writes: boolean): Effect.Effect<ReadonlyArray<Row>, SqlError> =>
      group === undefined
        ? sql.unsafe<Row>(text, values)
        : group.submit((connection) => runOn(connection, nameOf(text), text, values, "rows") as Effect.Effect<ReadonlyArray<Row>, SqlError>, writes)
    const queryValues = (text: string, values: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError> =>
      group === undefined
        ? sql.unsafe(text, values).values
        : group.submit(
          (connection) => runOn(connection, nameOf(text), text, values, "values") as Effect.Effect<ReadonlyArray<ReadonlyArray<unknown>>, SqlError>,
          false
        )
    const queryStatement = (statement: Statement.Statement<Row>, writes: boolean): Effect.Effect<ReadonlyArray<Row>, SqlError> => {
      if (group === undefined) return statement
      const [text, values] = statement.compile(true)
      return query(text, values, writes)
    }
    const execute = (text: string, values: ReadonlyArray<unknown>): Effect.Effect<unknown, SqlError> =>
      group === undefined
        ? sql.unsafe(text, values).raw
        : group.submit((connection) => runOn(connection, nameOf(text), text, values, "raw"), true)
    const P = null // a placeholder: values are bound per call
    const params = (casts: ReadonlyArray<string | undefined>): Statement.Fragment =>
      sql.csv(casts.map((cast) => (cast === undefined ? sql`${P}` : sql`CAST(${P} AS ${sql.literal(cast)})`)))
    // A fixed statement, compiled once; prepared by name on PostgreSQL.
    const text = (statement: Statement.Statement<unknown>): string => {
      const compiled = statement.compile(true)[0]
      if (pg) names.set(compiled, statementName(compiled))
      return compiled
    }

    const insertFlowSql = text(
      sql`INSERT INTO ergon_flows (${sql.literal(flowColumnList)}) VALUES (${
        params(flowColumns.map(() => undefined))
      }) ON CONFLICT (id) DO NOTHING`
    )
    const getFlowSql = text(sql`SELECT ${sql.literal(flowColumnList)} FROM ergon_flows WHERE id = ${P}`)
    // One query: the flow's row, then its journal's, side by side in the columns of both (the
    // other's columns NULL), read as arrays. (A join would repeat the flow's columns on every
    // entry, and rows as objects with every column named: three times slower for 1,000 entries.)
    const loadFlowSql = text(
      sql`SELECT ${sql.literal(selectFlow)}, ${sql.literal(nullSteps)} FROM ergon_flows f WHERE f.id = ${P} UNION ALL SELECT ${
        sql.literal(nullFlow)
      }, ${sql.literal(selectSteps)} FROM ergon_steps s WHERE s.flow_id = ${P}`
    )
    // One statement: insert the entry, or update it unless it is completed, and only when the
    // flow exists (and, fenced, still has the given lease). `WHERE` before `ON CONFLICT` is also
    // what SQLite needs to parse an upsert on `INSERT ... SELECT`.
    const putStepSql = (fenced: boolean): string =>
      text(
        sql`INSERT INTO ergon_steps (${sql.literal(stepColumnList)}) SELECT ${params(stepCasts)} WHERE EXISTS (SELECT 1 FROM ergon_flows WHERE id = ${P}${
          fenced ? sql` AND lease_owner = ${P} AND lease_epoch = ${P}` : sql.literal("")
        }) ON CONFLICT (flow_id, "key") DO UPDATE SET ${
          sql.literal(
            stepColumns.slice(2).map((column) => `${quote(column)} = excluded.${quote(column)}`).join(", ")
          )
        } WHERE ergon_steps.status <> 'completed'`
      )
    const putStepUnfenced = putStepSql(false)
    const putStepFenced = putStepSql(true)

    const releaseFlowSql = text(
      sql`UPDATE ergon_flows SET status = 'pending', run_after = ${P}, lease_owner = NULL, lease_expires_at = NULL, updated_at = ${P} WHERE id = ${P} AND status = 'running' AND lease_owner = ${P} AND lease_epoch = ${P}`
    )
    // PostgreSQL: the row lock that orders a suspension against a signal's or a child's wake-up
    // (see `suspendFlow`). SQLite runs one writer at a time: nothing to lock.
    const lockFlowSql = dialect.name === "pg" ? text(sql`SELECT id FROM ergon_flows WHERE id = ${P} FOR UPDATE`) : undefined
    const wakeFlowSql = text(
      sql`UPDATE ergon_flows SET status = 'pending', run_after = ${P}, updated_at = ${P} WHERE id = ${P} AND status = 'suspended'`
    )
    const cancelFlowSql = text(
      // One statement: a flow with the `$compensable` marker in its journal is asked to cancel
      // (ready to run its compensations), any other ends cancelled.
      sql`UPDATE ergon_flows SET status = CASE WHEN ${sql.literal(COMPENSABLE)} THEN 'pending' ELSE 'cancelled' END, completed_at = CASE WHEN ${
        sql.literal(COMPENSABLE)
      } THEN NULL ELSE CAST(${P} AS BIGINT) END, cancel_requested_at = CASE WHEN ${
        sql.literal(COMPENSABLE)
      } THEN CAST(${P} AS BIGINT) ELSE NULL END, run_after = CASE WHEN ${sql.literal(COMPENSABLE)} THEN CAST(${P} AS BIGINT) ELSE run_after END, updated_at = ${P}, cancel_reason = ${P}, lease_owner = NULL, lease_expires_at = NULL WHERE id = ${P} AND status NOT IN ('completed', 'cancelled') AND cancel_requested_at IS NULL`
    )
    const retryFlowSql = text(
      sql`UPDATE ergon_flows SET status = 'pending', run_after = ${P}, result = NULL, error = NULL, suspend_reason = NULL, completed_at = NULL, updated_at = ${P} WHERE id = ${P} AND status IN ('completed', 'failed', 'cancelled')`
    )
    // The next `seq` is computed in the insert itself, which selects the flow's row only while
    // the flow has not ended: on PostgreSQL it locks that row (`FOR UPDATE`), so a flow cannot end
    // between this check and the commit, and senders to one flow take their turns (a concurrent
    // sender that computed the same `seq` all the same collides on the primary key and tries
    // again); on SQLite the statement is the one writer. Then, in the same transaction, a
    // suspended flow is made ready: a signal accepted is one its flow will look for.
    const insertSignalSql = text(
      sql`INSERT INTO ergon_signals (${sql.literal(signalColumnList)}) SELECT CAST(${P} AS TEXT), CAST(${P} AS TEXT), COALESCE((SELECT MAX(seq) FROM ergon_signals WHERE flow_id = ${P} AND name = ${P}), 0) + 1, CAST(${P} AS TEXT), NULL, CAST(${P} AS BIGINT) FROM ergon_flows WHERE id = ${P} AND status NOT IN ('completed', 'cancelled')${
        sql.literal(dialect.name === "pg" ? " FOR UPDATE" : "")
      } RETURNING seq`
    )
    const flowStatusSql = text(sql`SELECT status FROM ergon_flows WHERE id = ${P}`)
    const replaySignalSql = text(
      sql`SELECT ${sql.literal(signalColumnList)} FROM ergon_signals WHERE flow_id = ${P} AND name = ${P} AND consumed_by = ${P} ORDER BY seq LIMIT 1`
    )
    // `consumed_by IS NULL` is checked again on the row updated: of two concurrent takers of the
    // same signal, one only gets it.
    // On PostgreSQL the pick is a CTE (see `Dialect.pickInCte`), so its two parameters come
    // first: `takeSignalParams` orders the values to match.
    const takeSignalSql = (fenced: boolean): string => {
      const fence = fenced
        ? sql` AND EXISTS (SELECT 1 FROM ergon_flows WHERE id = ${P} AND lease_owner = ${P} AND lease_epoch = ${P})`
        : sql.literal("")
      const pick = sql`SELECT seq FROM ergon_signals WHERE flow_id = ${P} AND name = ${P} AND consumed_by IS NULL ORDER BY seq LIMIT 1${
        sql.literal(dialect.skipLocked)
      }`
      return text(
        dialect.pickInCte
          ? sql`WITH picked AS MATERIALIZED (${pick}) UPDATE ergon_signals SET consumed_by = ${P} WHERE flow_id = ${P} AND name = ${P} AND consumed_by IS NULL AND seq IN (SELECT seq FROM picked)${fence} RETURNING ${
            sql.literal(signalColumnList)
          }`
          : sql`UPDATE ergon_signals SET consumed_by = ${P} WHERE flow_id = ${P} AND name = ${P} AND consumed_by IS NULL AND seq IN (${pick})${fence} RETURNING ${
            sql.literal(signalColumnList)
          }`
      )
    }
    const takeSignalParams = (
      consumerKey: string,
      flowId: string,
      name: string,
      fence: ReadonlyArray<unknown>
    ): ReadonlyArray<unknown> =>
      dialect.pickInCte
        ? [flowId, name, consumerKey, flowId, name, ...fence]
        : [consumerKey, flowId, name, flowId, name, ...fence]
    const takeSignalUnfenced = takeSignalSql(false)
    const takeSignalFenced = takeSignalSql(true)
    const hasSignalSql = text(
      sql`SELECT 1 AS found FROM ergon_signals WHERE flow_id = ${P} AND name = ${P} AND consumed_by IS NULL LIMIT 1`
    )
    const listSignalsSql = text(
      sql`SELECT ${sql.literal(signalColumnList)} FROM ergon_signals WHERE flow_id = ${P} ORDER BY name, seq`
    )

    // `type IN (...) AND version IN (...)`, where a `null` version stands for `version IS NULL`;
    // a pinned type listed in `replays` has a clause of its own: its other versions too, and only
    // executions not yet run or last run under one of `ranUnder`. `types` and `versions` must be
    // non-empty.
    const typesAndVersions = (
      types: ReadonlyArray<string>,
      versions: ReadonlyArray<string | null>,
      replays: ReadonlyArray<Replays> | undefined
    ): Statement.Fragment => {
      const versionIn = (named: ReadonlyArray<string>, unversioned: boolean): Statement.Fragment => {
        const clauses: Array<Statement.Fragment> = []
        if (named.length > 0) clauses.push(sql`version IN ${sql.in(named)}`)
        if (unversioned) clauses.push(sql.literal("version IS NULL"))
        return sql.or(clauses)
      }
      const own = versions.filter((version): version is string => version !== null)
      const unversioned = own.length < versions.length
      const pinned = (replays ?? []).filter((replay) => types.includes(replay.type))
      const pinnedTypes = new Set(pinned.map((replay) => replay.type))
      const plain = types.filter((type) => !pinnedTypes.has(type))
      const clauses: Array<Statement.Fragment> = []
      if (plain.length > 0) clauses.push(sql`type IN ${sql.in(plain)} AND ${versionIn(own, unversioned)}`)
      for (const replay of pinned) {
        const ran = replay.ranUnder.length > 0
          ? sql`(ran_version IS NULL OR ran_version IN ${sql.in(replay.ranUnder)})`
          : sql.literal("ran_version IS NULL")
        clauses.push(sql`type = ${replay.type} AND ${versionIn([...own, ...replay.versions], unversioned)} AND ${ran}`)
      }
      return sql.or(clauses)
    }

    // PostgreSQL: a statement is never cancelled by interrupting its fiber (a heartbeat dropping a
    // lost flow, a race settled): @effect/sql-pg cancels with pg_cancel_backend, which is racy on a
    // pooled connection and may cancel the next statement run there, another flow's. An
    // interrupted caller lets its statement finish first. (Not `Effect.disconnect`, which would
    // let the caller go on at once: a fiber per statement cost ~15% of PostgreSQL's throughput.)
    const shield = dialect.name === "pg"
      ? <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.uninterruptible(effect)
      : <A, E, R>(effect: Effect.Effect<A, E, R>) => effect
    const guarded = (operation: string) => {
      const onError = guard(operation)
      return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, StoreError, R> => onError(shield(effect))
    }
    const guards = {
      insertFlow: guarded("insertFlow"),
      getFlow: guarded("getFlow"),
      loadFlow: guarded("loadFlow"),
      putStep: guarded("putStep"),
      updateFlow: guarded("updateFlow"),
      suspendFlow: guarded("suspendFlow"),
      listFlows: guarded("listFlows"),
      claimFlows: guarded("claimFlows"),
      renewLeases: guarded("renewLeases"),
      releaseFlow: guarded("releaseFlow"),
      wakeFlow: guarded("wakeFlow"),
      nextWakeAt: guarded("nextWakeAt"),
      insertSignal: guarded("insertSignal"),
      takeSignal: guarded("takeSignal"),
      hasSignal: guarded("hasSignal"),
      listSignals: guarded("listSignals"),
      cancelFlow: guarded("cancelFlow"),
      retryFlow: guarded("retryFlow"),
      emitEvent: guarded("emitEvent"),
      getEvent: guarded("getEvent"),
      continueAsNew: guarded("continueAsNew"),
      listExecutions: guarded("listExecutions"),
      purgeFlows: guarded("purgeFlows"),
      purgeEvents: guarded("purgeEvents"),
      retryFlowLater: guarded("retryFlowLater"),
      registerWorker: guarded("registerWorker"),
      heartbeatWorker: guarded("heartbeatWorker"),
      removeWorker: guarded("removeWorker"),
      listWorkers: guarded("listWorkers"),
      pruneWorkers: guarded("pruneWorkers"),
      pageFlows: guarded("pageFlows"),
      countFlows: guarded("countFlows"),
      flowGroups: guarded("flowGroups"),
      restampFlows: guarded("restampFlows")
    }
    const changed = (raw: unknown): boolean => dialect.affectedRows(raw) > 0
    // The filters shared by `listFlows`, `pageFlows` and `countFlows`.
    const filterClauses = (filter: Omit<FlowFilter, "limit" | "afterId">): Array<Statement.Fragment> => {
      const clauses: Array<Statement.Fragment> = []
      if (filter.status !== undefined) {
        clauses.push(
          typeof filter.status === "string" ? sql`status = ${filter.status}` : sql.in("status", filter.status)
        )
      }
      if (filter.type !== undefined) clauses.push(sql`type = ${filter.type}`)
      if (filter.version === null) clauses.push(sql.literal("version IS NULL"))
      else if (filter.version !== undefined) clauses.push(sql`version = ${filter.version}`)
      if (filter.parentId !== undefined) clauses.push(sql`parent_id = ${filter.parentId}`)
      return clauses
    }
    const workerColumnList = workerColumns.join(", ")
    const registerWorkerSql = text(
      sql`INSERT INTO ergon_workers (${sql.literal(workerColumnList)}) VALUES (${
        params(workerColumns.map(() => undefined))
      }) ON CONFLICT (id) DO UPDATE SET ${
        sql.literal(workerColumns.slice(1).map((column) => `${column} = excluded.${column}`).join(", "))
      }`
    )
    const heartbeatWorkerSql = text(
      sql`UPDATE ergon_workers SET heartbeat_at = ${P}, expires_at = ${P}, in_flight = ${P} WHERE id = ${P}`
    )
    const removeWorkerSql = text(sql`DELETE FROM ergon_workers WHERE id = ${P}`)
    const listWorkersSql = text(
      sql`SELECT ${sql.literal(workerColumnList)} FROM ergon_workers ORDER BY name, started_at, id`
    )
    const pruneWorkersSql = text(sql`DELETE FROM ergon_workers WHERE expires_at < ${P}`)
    // `ready`: when a flow became ready at `now` (bound twice), NULL when it is not ready.
    const flowGroupsSql = text(
      sql`SELECT type, version, status, COUNT(*) AS count,
  SUM(CASE WHEN ready IS NULL THEN 0 ELSE 1 END) AS ready,
  MIN(ready) AS ready_since
FROM (SELECT type, version, status, CASE
    WHEN status = 'running' AND lease_expires_at < ${P} THEN lease_expires_at
    WHEN status IN ('pending', 'suspended') AND run_after <= ${P} THEN run_after
  END AS ready FROM ergon_flows WHERE status IN ('pending', 'running', 'suspended')) AS open
GROUP BY type, version, status`
    )

    const restampFlowsSql = text(
      sql`UPDATE ergon_flows SET version = ${P}, updated_at = ${P}
WHERE type = ${P} AND version = ${P} AND status IN ('pending', 'running', 'suspended')`
    )

    const write = (
      operation: "insertFlow" | "putStep" | "updateFlow" | "releaseFlow" | "wakeFlow" | "cancelFlow",
      text: string,
      values: ReadonlyArray<unknown>
    ): Effect.Effect<boolean, StoreError> => guards[operation](Effect.map(execute(text, values), changed))

    // PostgreSQL's clock, for the workers' skew check (SQLite shares the clock of its machine).
    const storeTime = dialect.name === "pg"
      ? guarded("storeTime")(
        Effect.map(
          sql.unsafe<Row>(`SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) AS now`),
          (rows) => num(rows[0]!.now)
        )
      )
      : undefined

    return {
      ...(storeTime === undefined ? {} : { storeTime }),
      insertFlow: (row) => write("insertFlow", insertFlowSql, flowParams(row)),
      getFlow: (id) =>
        guards.getFlow(
          Effect.map(query(getFlowSql, [id], false), (rows) =>
            rows.length === 0 ? Option.none() : Option.some(flowFromRow(rows[0]!)))
        ),
      loadFlow: (id) =>
        guards.loadFlow(
          Effect.map(queryValues(loadFlowSql, [id, id]), (rows): Option.Option<FlowWithSteps> => {
            const flowRow = rows.find((row) => row[0] !== null && row[0] !== undefined)
            if (flowRow === undefined) return Option.none()
            const flow = flowFromValues(flowRow)
            const steps: Array<StepRow> = []
            for (const row of rows) {
              if (row !== flowRow) steps.push(stepFromValues(flow.id, row))
            }
            steps.sort((a, b) => byText(a.key, b.key))
            return Option.some({ flow, steps })
          })
        ),
      putStep: (row, fence) => {
        const [text, values] = fence === undefined
          ? [putStepUnfenced, [...stepParams(row), row.flowId]]
          : [putStepFenced, [...stepParams(row), row.flowId, fence.owner, fence.epoch]]
        if (group === undefined || !pg) return write("putStep", text, values)
        // PostgreSQL: one of the batch's merged upserts (see `putStepsMany`), or alone.
        return guards.putStep(group.submit(
          (connection) => Effect.map(runOn(connection, nameOf(text), text, values, "raw"), changed),
          true,
          "putStep",
          putStepParams(row, fence)
        ))
      },
      updateFlow: (id, patch, fence) => {
        const sets: Array<Statement.Fragment> = []
        if (patch.status !== undefined) sets.push(sql`status = ${patch.status}`)
        if (patch.result !== undefined) sets.push(sql`result = ${patch.result}`)
        if (patch.error !== undefined) sets.push(sql`error = ${patch.error}`)
        if (patch.runAfter !== undefined) sets.push(sql`run_after = ${patch.runAfter}`)
        if (patch.suspendReason !== undefined) sets.push(sql`suspend_reason = ${patch.suspendReason}`)
        if (patch.completedAt !== undefined) sets.push(sql`completed_at = ${patch.completedAt}`)
        if (patch.incrementAttempts === true) sets.push(sql.literal("attempts = attempts + 1"))
        sets.push(sql`updated_at = ${patch.updatedAt}`)
        // A cancellation is final (until `retryFlow`): no update changes a cancelled flow, so an
        // execution without a lease that ends as it is cancelled cannot write over it.
        const where = fence === undefined
          ? sql`id = ${id} AND status <> 'cancelled'`
          : sql`id = ${id} AND status <> 'cancelled' AND lease_owner = ${fence.owner} AND lease_epoch = ${fence.epoch}`
        const [text, values] = sql`UPDATE ergon_flows SET ${sql.csv(sets)} WHERE ${where}`.compile(true)
        // (one text per set of patched fields and fence or not: a few dozen at most, prepared too)
        if (pg && !names.has(text)) names.set(text, statementName(text))
        const parent = patch.wakeParent
        if (parent === undefined) {
          if (group === undefined || !pg) return write("updateFlow", text, values)
          // PostgreSQL: one of the batch's merged updates (see `updateFlowsMany`), or alone.
          let mask = patch.incrementAttempts === true ? INCREMENT_ATTEMPTS : 0
          const merged: Array<unknown> = [0, id]
          const patched = [patch.status, patch.result, patch.error, patch.runAfter, patch.suspendReason, patch.completedAt]
          patched.forEach((value, i) => {
            if (value === undefined) return
            mask |= 1 << i
            merged.push(value)
          })
          merged[0] = mask
          merged.push(patch.updatedAt, fence === undefined ? null : fence.owner, fence === undefined ? null : fence.epoch)
          return guards.updateFlow(group.submit(
            (connection) => Effect.map(runOn(connection, nameOf(text), text, values, "raw"), changed),
            true,
            "updateFlow",
            merged
          ))
        }
        // The update and the parent's wake-up in one transaction, the wake-up only if the update
        // applied. On PostgreSQL the parent's row is locked first, so a parent suspending on this
        // child at the same time either sees it ended or is suspended before the wake-up reads it.
        const lockParent = lockFlowSql === undefined ? Effect.void : execute(lockFlowSql, [parent])
        return guards.updateFlow(sql.withTransaction(
          Effect.zipRight(
            lockParent,
            Effect.flatMap(Effect.map(execute(text, values), changed), (applied) =>
              applied
                ? Effect.as(execute(wakeFlowSql, [patch.updatedAt, patch.updatedAt, parent]), true)
                : Effect.succeed(false))
          )
        ))
      },
      // One statement on SQLite (one writer at a time, so what it reads cannot change under it).
      // On PostgreSQL, a transaction: the flow's row is locked first, then a new statement (a new
      // snapshot, under READ COMMITTED) checks the waits and suspends. A signal sender inserts its
      // signal and then wakes the flow (a locking update); a child's end locks its parent's row
      // before it writes. Either the wake-up comes after the suspension and finds it, or what it
      // wakes for was committed before the check and the check sees it.
      suspendFlow: (id, suspension, fence) => {
        const waits: Array<Statement.Fragment> = []
        if (suspension.signals.length > 0) {
          waits.push(
            sql`NOT EXISTS (SELECT 1 FROM ergon_signals WHERE flow_id = ${id} AND consumed_by IS NULL AND name IN ${
              sql.in(suspension.signals)
            })`
          )
        }
        const events = suspension.events ?? []
        if (events.length > 0) {
          waits.push(sql`NOT EXISTS (SELECT 1 FROM ergon_events WHERE name IN ${sql.in(events)})`)
        }
        if (suspension.children.length > 0) {
          waits.push(
            sql`NOT EXISTS (SELECT 1 FROM ergon_flows c WHERE c.id IN ${
              sql.in(suspension.children)
            } AND c.status IN ('completed', 'cancelled'))`
          )
        }
        const owned = fence === undefined
          ? sql`id = ${id} AND status = 'running'`
          : sql`id = ${id} AND status = 'running' AND lease_owner = ${fence.owner} AND lease_epoch = ${fence.epoch}`
        const [suspendText, suspendValues] = sql`UPDATE ergon_flows SET status = 'suspended', run_after = ${suspension.runAfter}, suspend_reason = ${suspension.suspendReason}, updated_at = ${suspension.now} WHERE ${
          sql.and([owned, ...waits])
        }`.compile(true)
        const lock = lockFlowSql === undefined ? Effect.void : execute(lockFlowSql, [id])
        const suspend = Effect.map(execute(suspendText, suspendValues), changed)
        // Not suspended: tell a wait that can be met from a flow that is no longer ours.
        const why = Effect.map(
          query(getFlowSql, [id], false),
          (rows): "satisfied" | "refused" => {
            const row = rows[0]
            if (row === undefined) return "refused"
            const flow = flowFromRow(row)
            const ours = flow.status === "running" &&
              (fence === undefined || (flow.leaseOwner === fence.owner && flow.leaseEpoch === fence.epoch))
            return ours ? "satisfied" : "refused"
          }
        )
        // The flow is registered as a waiter of its events first, in a statement of its own
        // (committed before the check): an emitter that commits its event after the check reads
        // this registration and wakes the flow; one that committed before is seen by the check.
        const register = events.length === 0
          ? Effect.void
          : execute(
            ...sql`INSERT INTO ergon_event_waiters (name, flow_id) VALUES ${
              sql.csv(events.map((name) => sql`(${name}, ${id})`))
            } ON CONFLICT (name, flow_id) DO NOTHING`.compile(true)
          )
        return guards.suspendFlow(
          Effect.zipRight(
            register,
            sql.withTransaction(
              Effect.zipRight(lock, Effect.flatMap(suspend, (done) => done ? Effect.succeed("suspended" as const) : why))
            )
          )
        )
      },
      listFlows: (filter) => {
        const clauses: Array<Statement.Fragment> = []
        if (filter.status !== undefined) {
          clauses.push(
            typeof filter.status === "string" ? sql`status = ${filter.status}` : sql.in("status", filter.status)
          )
        }
        if (filter.type !== undefined) clauses.push(sql`type = ${filter.type}`)
        if (filter.version === null) clauses.push(sql.literal("version IS NULL"))
        else if (filter.version !== undefined) clauses.push(sql`version = ${filter.version}`)
        if (filter.parentId !== undefined) clauses.push(sql`parent_id = ${filter.parentId}`)
        if (filter.afterId !== undefined) clauses.push(sql`id > ${filter.afterId}`)
        const limit = sqlLimit(filter.limit ?? 100)
        return guards.listFlows(
          Effect.map(
            queryStatement(
              sql<Row>`SELECT ${sql.literal(filter.payloads === true ? flowColumnList : stateColumnList)} FROM ergon_flows WHERE ${
                sql.and(clauses)
              } ORDER BY id LIMIT ${limit}`,
              false
            ),
            (rows) => rows.map(flowFromRow)
          )
        )
      },
      // One statement, so that the pick and the update are one atomic step: SQLite takes the
      // write lock before it reads (waiting up to busy_timeout for another process's), and
      // PostgreSQL locks the rows it picks and skips those another claimer has locked.
      claimFlows: (options: ClaimOptions) => {
        const { leaseMillis, now, owner, types, versions } = options
        const limit = sqlLimit(options.limit)
        if (types.length === 0 || versions.length === 0 || limit === 0) return Effect.succeed([])
        // Read in the order of the `ergon_flows_ready` index (see the `9_claim_order` migration),
        // whose predicate the pick repeats word for word: the first ready flows, not a sort of all.
        const pick = sql`SELECT id FROM ${sql.literal(dialect.claimFrom)} WHERE ${sql.literal(Migrations.claimableStatuses)} AND (${
          typesAndVersions(types, versions, options.replays)
        }) AND ((status IN (${sql.literal(options.timers === false ? "'pending'" : "'pending', 'suspended'")}) AND run_after IS NOT NULL AND run_after <= ${now}) OR (status = 'running' AND lease_expires_at IS NOT NULL AND lease_expires_at < ${now})) ORDER BY ${
          sql.literal(Migrations.claimOrder)
        } LIMIT ${limit}${sql.literal(dialect.skipLocked)}`
        const set = sql`SET status = 'running', lease_owner = ${owner}, lease_epoch = lease_epoch + 1, lease_expires_at = ${
          now + leaseMillis
        }, attempts = attempts + 1, error = NULL, suspend_reason = NULL, ran_version = ${
          options.runVersion ?? null
        }, updated_at = ${now}`
        // The state and the input (what a first run needs: it has no journal to load); no result.
        const returning = sql.literal(claimColumnList)
        return guards.claimFlows(
          Effect.map(
            queryStatement(
              dialect.pickInCte
                ? sql<Row>`WITH picked AS MATERIALIZED (${pick}) UPDATE ergon_flows ${set} WHERE id IN (SELECT id FROM picked) RETURNING ${returning}`
                : sql<Row>`UPDATE ergon_flows ${set} WHERE id IN (${pick}) RETURNING ${returning}`,
              true
            ),
            // `RETURNING` has no order.
            (rows) => rows.map(flowFromRow).sort(compareClaimOrder)
          )
        )
      },
      renewLeases: (owner, ids, now, leaseMillis) =>
        ids.length === 0
          ? Effect.succeed([])
          : guards.renewLeases(
            Effect.map(
              queryStatement(
                dialect.name === "pg"
                  // Rows locked in the order of their ids, as every statement that locks several flows
                  // does (a child's completion locks its parent, whose id is a prefix of the child's,
                  // then the child): renewing a parent and its child at once cannot deadlock with it.
                  ? sql<Row>`UPDATE ergon_flows SET lease_expires_at = ${now + leaseMillis} WHERE id IN (SELECT id FROM ergon_flows WHERE status = 'running' AND lease_owner = ${owner} AND id IN ${
                    sql.in(ids)
                  } ORDER BY id FOR UPDATE) AND status = 'running' AND lease_owner = ${owner} RETURNING id`
                  : sql<Row>`UPDATE ergon_flows SET lease_expires_at = ${
                    now + leaseMillis
                  } WHERE status = 'running' AND lease_owner = ${owner} AND id IN ${sql.in(ids)} RETURNING id`,
                true
              ),
              (rows) => rows.map((row) => String(row.id)).sort(byText)
            )
          ),
      releaseFlow: (id, fence, now) =>
        write("releaseFlow", releaseFlowSql, [now, now, id, fence.owner, fence.epoch]),
      wakeFlow: (id, now) => write("wakeFlow", wakeFlowSql, [now, now, id]),
      nextWakeAt: (types, versions, replays) =>
        types.length === 0 || versions.length === 0
          ? Effect.succeedNone
          : guards.nextWakeAt(
            Effect.map(
              // Three lookups that each read the first entry of an index in order (claim index for
              // pending and suspended, lease index for running), not one MIN over every parked flow.
              queryStatement(
                sql<Row>`SELECT MIN(wake_at) AS wake_at FROM (SELECT (SELECT run_after FROM ergon_flows WHERE status = 'pending' AND run_after IS NOT NULL AND ${
                  typesAndVersions(types, versions, replays)
                } ORDER BY run_after LIMIT 1) AS wake_at UNION ALL SELECT (SELECT run_after FROM ergon_flows WHERE status = 'suspended' AND run_after IS NOT NULL AND ${
                  typesAndVersions(types, versions, replays)
                } ORDER BY run_after LIMIT 1) UNION ALL SELECT (SELECT lease_expires_at FROM ergon_flows WHERE status = 'running' AND lease_expires_at IS NOT NULL AND ${
                  typesAndVersions(types, versions, replays)
                } ORDER BY lease_expires_at LIMIT 1)) AS wakes`,
                false
              ),
              (rows) => Option.fromNullable(numOrNull(rows[0]?.wake_at))
            )
          ),
      insertSignal: (flowId, name, payload, now) => {
        const insert = Effect.flatMap(
          query(insertSignalSql, [flowId, name, flowId, name, payload, now, flowId], true),
          (rows): Effect.Effect<SignalInsert, SqlError> =>
            rows.length > 0
              ? Effect.as(execute(wakeFlowSql, [now, now, flowId]), { _tag: "Sent", seq: num(rows[0]!.seq) })
              : Effect.map(query(flowStatusSql, [flowId], false), (found) => ({
                _tag: "Refused",
                status: found.length === 0 ? null : String(found[0]!.status)
              }))
        )
        return guards.insertSignal(
          sql.withTransaction(insert).pipe(
            Effect.retry({ times: insertSignalAttempts - 1, while: dialect.isUniqueViolation })
          )
        ).pipe(
          Effect.flatMap((outcome): Effect.Effect<number, FlowNotFoundError | FlowEndedError> =>
            outcome._tag === "Sent"
              ? Effect.succeed(outcome.seq)
              : outcome.status === null
              ? Effect.fail(new FlowNotFoundError({ flowId }))
              : Effect.fail(signalRefused(flowId, outcome.status, name))
          )
        )
      },
      takeSignal: (flowId, name, consumerKey, fence) =>
        guards.takeSignal(
          Effect.flatMap(query(replaySignalSql, [flowId, name, consumerKey], false), (replayed) => {
            if (replayed.length > 0) return Effect.succeed(Option.some(signalFromRow(replayed[0]!)))
            const take = fence === undefined
              ? query(takeSignalUnfenced, takeSignalParams(consumerKey, flowId, name, []), true)
              : query(takeSignalFenced, takeSignalParams(consumerKey, flowId, name, [flowId, fence.owner, fence.epoch]), true)
            return Effect.map(take, (rows) => rows.length === 0 ? Option.none() : Option.some(signalFromRow(rows[0]!)))
          })
        ),
      hasSignal: (flowId, name) =>
        guards.hasSignal(Effect.map(query(hasSignalSql, [flowId, name], false), (rows) => rows.length > 0)),
      listSignals: (flowId) =>
        guards.listSignals(Effect.map(query(listSignalsSql, [flowId], false), (rows) => rows.map(signalFromRow))),
      cancelFlow: (id, now, reason) => write("cancelFlow", cancelFlowSql, [now, now, now, now, reason ?? null, id]),
      registerWorker: (row) => guards.registerWorker(Effect.asVoid(execute(registerWorkerSql, workerParams(row)))),
      heartbeatWorker: (id, now, expiresAt, inFlight) =>
        guards.heartbeatWorker(
          Effect.map(
            execute(heartbeatWorkerSql, [now, expiresAt, inFlight, id]),
            changed
          )
        ),
      removeWorker: (id) =>
        guards.removeWorker(Effect.map(execute(removeWorkerSql, [id]), changed)),
      listWorkers: () =>
        guards.listWorkers(
          Effect.map(
            query(listWorkersSql, [], false),
            (rows) => rows.map(workerFromRow)
          )
        ),
      pruneWorkers: (expiredBefore) =>
        guards.pruneWorkers(
          Effect.map(
            execute(pruneWorkersSql, [expiredBefore]),
            (raw) => dialect.affectedRows(raw)
          )
        ),
      pageFlows: (pageQuery) => {
        const clauses = filterClauses(pageQuery)
        const before = pageQuery.before
        if (before !== undefined) {
          clauses.push(
            sql`(created_at < ${before.createdAt} OR (created_at = ${before.createdAt} AND id < ${before.id}))`
          )
        }
        return guards.pageFlows(
          Effect.map(
            queryStatement(
              sql<Row>`SELECT ${sql.literal(pageQuery.payloads === true ? flowColumnList : stateColumnList)} FROM ergon_flows WHERE ${
                sql.and(clauses)
              } ORDER BY created_at DESC, id DESC LIMIT ${sqlLimit(pageQuery.limit ?? 100)}`,
              false
            ),
            (rows) => rows.map(flowFromRow)
          )
        )
      },
      countFlows: (filter) =>
        guards.countFlows(
          Effect.map(
            queryStatement(
              sql<Row>`SELECT COUNT(*) AS count FROM ergon_flows WHERE ${sql.and(filterClauses(filter))}`,
              false
            ),
            (rows) => num(rows[0]?.count ?? 0)
          )
        ),
      flowGroups: (now) =>
        guards.flowGroups(
          Effect.map(query(flowGroupsSql, [now, now], false), (rows) =>
            rows.map((row): FlowGroup => ({
              type: String(row.type),
              version: textOrNull(row.version),
              status: row.status as FlowGroup["status"],
              count: num(row.count),
              ready: num(row.ready ?? 0),
              readySince: numOrNull(row.ready_since)
            })))
        ),
      // The update first: it decides, and a retry that changed nothing deletes nothing.
      retryFlow: (id, now, dropKeys) =>
        guards.retryFlow(
          sql.withTransaction(
            Effect.flatMap(Effect.map(sql.unsafe(retryFlowSql, [now, now, id]).raw, changed), (retried) =>
              retried && dropKeys.length > 0
                ? Effect.as(sql`DELETE FROM ergon_steps WHERE flow_id = ${id} AND "key" IN ${sql.in(dropKeys)}`, true)
                : Effect.succeed(retried))
          )
        ),
      restampFlows: (type, from, to, now) =>
        guards.restampFlows(
          Effect.map(
            execute(restampFlowsSql, [to, now, type, from]),
            (result) => dialect.affectedRows(result)
          )
        ),
      // The event is committed first (first emit wins), then its waiters are read and woken. On
      // PostgreSQL the waiting flows' rows are locked before the update (a suspension in progress
      // commits first), and the update is a statement of its own, which sees that suspension.
      emitEvent: (name, payload, now) =>
        guards.emitEvent(Effect.gen(function*() {
          const inserted = changed(
            yield* execute(
              ...sql`INSERT INTO ergon_events (name, payload, created_at) VALUES (${name}, ${payload}, ${now}) ON CONFLICT (name) DO NOTHING`
                .compile(true)
            )
          )
          const waiters = (yield* query(
            ...sql`SELECT flow_id FROM ergon_event_waiters WHERE name = ${name}`.compile(true),
            false
          )).map((row) => String(row.flow_id))
          if (waiters.length > 0) {
            yield* sql.withTransaction(Effect.gen(function*() {
              if (lockFlowSql !== undefined) {
                yield* sql`SELECT id FROM ergon_flows WHERE id IN ${sql.in(waiters)} ORDER BY id FOR UPDATE`
              }
              yield* sql`UPDATE ergon_flows SET status = 'pending', run_after = ${now}, updated_at = ${now} WHERE id IN ${
                sql.in(waiters)
              } AND status = 'suspended'`
              yield* sql`DELETE FROM ergon_event_waiters WHERE name = ${name} AND flow_id IN ${sql.in(waiters)}`
            }))
          }
          return inserted
        })),
      getEvent: (name) =>
        guards.getEvent(Effect.map(
          query(...sql`SELECT name, payload, created_at FROM ergon_events WHERE name = ${name}`.compile(true), false),
          (rows) =>
            rows.length === 0 ? Option.none() : Option.some({
              name: String(rows[0]!.name),
              payload: textOrNull(rows[0]!.payload) ?? "null",
              createdAt: num(rows[0]!.created_at)
            })
        )),
      // One transaction: archive the journal and the input as execution n, empty the journal,
      // and give the flow its new input as execution n + 1. The flow's update goes first: it
      // decides (under the fence), and a continuation that does not apply archives nothing.
      continueAsNew: (id, next, fence) =>
        guards.continueAsNew(sql.withTransaction(Effect.gen(function*() {
          const owned = fence === undefined
            ? sql`id = ${id} AND status = 'running'`
            : sql`id = ${id} AND status = 'running' AND lease_owner = ${fence.owner} AND lease_epoch = ${fence.epoch}`
          const before = yield* sql<Row>`SELECT input, execution, created_at FROM ergon_flows WHERE ${owned}${
            sql.literal(lockFlowSql === undefined ? "" : " FOR UPDATE")
          }`
          const current = before[0]
          if (current === undefined) return false
          const execution = current.execution === null ? 1 : num(current.execution)
          const previous = yield* sql<Row>`SELECT MAX(ended_at) AS ended_at FROM ergon_executions WHERE flow_id = ${id}`
          const startedAt = numOrNull(previous[0]?.ended_at) ?? num(current.created_at)
          const entries = yield* sql<Row>`SELECT COUNT(*) AS n FROM ergon_steps WHERE flow_id = ${id}`
          yield* sql`INSERT INTO ergon_executions (flow_id, execution, input, result, started_at, ended_at, entries) VALUES (${id}, ${execution}, ${
            String(current.input)
          }, ${next.result}, ${startedAt}, ${next.now}, ${num(entries[0]?.n ?? 0)})`
          yield* sql`INSERT INTO ergon_execution_steps (flow_id, execution, ${
            sql.literal(stepColumns.slice(1).map(quote).join(", "))
          }) SELECT flow_id, CAST(${execution} AS INTEGER), ${sql.literal(stepColumns.slice(1).map(quote).join(", "))} FROM ergon_steps WHERE flow_id = ${id}`
          yield* sql`DELETE FROM ergon_steps WHERE flow_id = ${id}`
          yield* sql`UPDATE ergon_flows SET input = ${next.input}, input_hash = ${next.inputHash}, execution = ${
            execution + 1
          }, result = NULL, error = NULL, suspend_reason = NULL, run_after = NULL, updated_at = ${next.now} WHERE id = ${id}`
          return true
        }))),
      // Roots are picked through `ergon_flows_finished (status, completed_at)` (failed flows, which
      // have no `completed_at`, by status then `updated_at`), oldest first; descendants through the
      // primary key, as the id range `[root/, root0)` ('0' follows '/'). One transaction per batch.
      purgeFlows: (filter) => {
        const limit = sqlLimit(filter.limit)
        const typeClause = filter.type === undefined ? sql.literal("") : sql` AND type = ${filter.type}`
        // One branch per status, each read in the order of an index (`status, completed_at`), up to
        // the limit: none sorts the ended flows of the whole table.
        const picks = filter.statuses.map((status, i) => {
          const ended = sql.literal(status === "failed" ? "updated_at" : "completed_at")
          return sql`SELECT id, ended_at FROM (SELECT id, ${ended} AS ended_at FROM ergon_flows f WHERE status = ${status} AND ${ended} < ${filter.finishedBefore} AND parent_id IS NULL${typeClause} AND NOT EXISTS (SELECT 1 FROM ergon_flows d WHERE d.id >= f.id || '/' AND d.id < f.id || '0' AND d.status IN ('pending', 'running', 'suspended')) ORDER BY ${ended} LIMIT ${limit}) AS ${
            sql.literal(`branch${i}`)
          }`
        })
        if (picks.length === 0 || limit === 0) return Effect.succeed([])
        return guards.purgeFlows(sql.withTransaction(Effect.gen(function*() {
          const picked = yield* sql<Row>`SELECT id FROM (${
            sql.join(" UNION ALL ", false)(picks)
          }) AS ended ORDER BY ended_at, id LIMIT ${limit}`
          const roots = picked.map((row) => String(row.id))
          if (roots.length === 0) return []
          // The roots' descendants, through the primary key (a range per root), a few roots per
          // statement (SQLite limits an expression's depth).
          const family = [...roots]
          for (let i = 0; i < roots.length; i += 50) {
            const ranges = roots.slice(i, i + 50).map((root) => sql`(id >= ${`${root}/`} AND id < ${`${root}0`})`)
            const found = yield* sql<Row>`SELECT id FROM ergon_flows WHERE ${sql.or(ranges)}`
            for (const row of found) family.push(String(row.id))
          }
          for (let i = 0; i < family.length; i += 500) {
            const ids = family.slice(i, i + 500)
            for (
              const table of [
                "ergon_steps",
                "ergon_execution_steps",
                "ergon_executions",
                "ergon_signals",
                "ergon_timers",
                "ergon_event_waiters"
              ]
            ) {
              yield* sql`DELETE FROM ${sql.literal(table)} WHERE flow_id IN ${sql.in(ids)}`
            }
            yield* sql`DELETE FROM ergon_flows WHERE id IN ${sql.in(ids)}`
          }
          return roots
        })))
      },
      // The update first: it decides (under the fence), and a retry that does not apply deletes nothing.
      retryFlowLater: (id, retry, fence) =>
        guards.retryFlowLater(sql.withTransaction(Effect.gen(function*() {
          const owned = fence === undefined
            ? sql`id = ${id} AND status = 'running'`
            : sql`id = ${id} AND status = 'running' AND lease_owner = ${fence.owner} AND lease_epoch = ${fence.epoch}`
          const applied = changed(
            yield* sql`UPDATE ergon_flows SET status = 'suspended', run_after = ${retry.runAfter}, suspend_reason = ${retry.suspendReason}, updated_at = ${retry.now} WHERE ${owned}`.raw
          )
          if (applied && retry.dropKeys.length > 0) {
            yield* sql`DELETE FROM ergon_steps WHERE flow_id = ${id} AND "key" IN ${sql.in(retry.dropKeys)}`
          }
          return applied
        }))),
      purgeEvents: (before, limit) =>
        guards.purgeEvents(Effect.map(
          queryStatement(
            sql<Row>`DELETE FROM ergon_events WHERE name IN (SELECT name FROM ergon_events WHERE created_at < ${before} ORDER BY created_at LIMIT ${
              sqlLimit(limit)
            }) RETURNING name`,
            true
          ),
          (rows) => rows.length
        )),
      listExecutions: (id) =>
        guards.listExecutions(Effect.gen(function*() {
          const archived = yield* sql<Row>`SELECT flow_id, execution, input, result, started_at, ended_at, entries FROM ergon_executions WHERE flow_id = ${id} ORDER BY execution`
          const flows = yield* sql<Row>`SELECT ${sql.literal(flowColumnList)} FROM ergon_flows WHERE id = ${id}`
          if (flows[0] === undefined) return []
          const flow = flowFromRow(flows[0])
          const entries = yield* sql<Row>`SELECT COUNT(*) AS n FROM ergon_steps WHERE flow_id = ${id}`
          const rows: Array<ExecutionRow> = archived.map((row) => ({
            flowId: id,
            execution: num(row.execution),
            input: String(row.input),
            result: textOrNull(row.result),
            status: "continued",
            startedAt: num(row.started_at),
            endedAt: numOrNull(row.ended_at),
            entries: num(row.entries)
          }))
          rows.push({
            flowId: id,
            execution: flow.execution ?? 1,
            input: flow.input,
            result: flow.result,
            status: flow.status,
            startedAt: rows.at(-1)?.endedAt ?? flow.createdAt,
            endedAt: flow.completedAt,
            entries: num(entries[0]?.n ?? 0)
          })
          return rows
        }))
    }
  })

/**
 * `makeWith` with the defaults.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: Effect.Effect<Encoded, never, SqlClient.SqlClient> = makeWith()

/**
 * Applies the store's migrations (recorded in `ergon_migrations`); the ones already applied are
 * skipped, so it is safe to run at every start, from several processes. Fails with a
 * `StoreError` whose `operation` is `"migrate"`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const migrate: Effect.Effect<void, StoreError, SqlClient.SqlClient> = Effect.asVoid(
  guard("migrate")(Migrations.run)
)

/**
 * The SQL store: runs the migrations, then provides `ExecutionLog` over the `SqlClient` in
 * context (SQLite or PostgreSQL), with `options` (see `Options`). A migration that fails fails
 * the Layer with a `StoreError` whose `operation` is `"migrate"`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerWith = (options: Options = {}): Layer.Layer<ExecutionLog, StoreError, SqlClient.SqlClient> =>
  Layer.effect(
    ExecutionLog,
    Effect.zipRight(
      migrate,
      Effect.flatMap(makeWith(options), (backend) => withLimits(backend, options))
    )
  )

/**
 * The service over a backend with the payload limits of `options` (see `ExecutionLog.Limits`); a
 * limit that is not a positive integer is a `StoreError` whose `operation` is `"open"`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const withLimits = (backend: Encoded, options: json.LimitsOptions): Effect.Effect<ExecutionLog.Service, StoreError> =>
  Effect.try({
    try: () => makeUnsafe(backend, { maxPayloadBytes: options.maxPayloadBytes, maxDepth: options.maxDepth }),
    catch: (cause) => storeError("open", cause)
  })

/**
 * `layerWith` with the defaults.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer: Layer.Layer<ExecutionLog, StoreError, SqlClient.SqlClient> = layerWith()
