/**
 * Group commit: the statements of concurrent flows share one transaction, so one durable commit
 * (one `fsync` with SQLite's `synchronous=FULL`, one WAL flush on PostgreSQL) serves many
 * checkpoints.
 *
 * A statement is queued and its fiber waits; the first statement of a burst starts a drain, which
 * first yields, so that every other fiber ready to run gets to queue its own, then takes a
 * connection once, runs the whole queue in one transaction (`begin`, each statement, `COMMIT`)
 * and gives each statement its result only after the `COMMIT` returned: a flow goes on only once
 * its own checkpoint is durable, and never acts on a read of something that was not committed.
 * Statements queued during a commit form the next batch. A lone statement runs by itself, with
 * no transaction around it, so a sequential workload pays nothing but the queueing.
 *
 * Up to `lanes` drains run at once, each on a connection of its own (SQLite: one; PostgreSQL: a
 * few of the pool's): a new drain starts only when every running one is busy with a batch, so a
 * burst still gathers in one batch, and the next burst does not wait for the previous commit.
 *
 * Statements of the same shape in one batch (`Options.coalesce`, PostgreSQL's checkpoint upserts)
 * may run as one multi-row statement, each caller still getting its own result.
 *
 * Statements run on the connection directly, not through `SqlClient`'s statement path (its span,
 * semaphore and connection lookup per statement cost several times what SQLite itself does).
 *
 * A batch whose transaction fails (one statement failed, a coalesced statement failed, or the
 * commit) is rolled back as a whole, and its statements are run again one by one, each in its own
 * implicit transaction, so each gets its own result or error and one bad statement fails no other.
 *
 * Statements run inside a transaction of the caller's (`SqlClient.withTransaction`, for
 * transactional scheduling) are not queued: they run at once on that transaction's connection and
 * commit or roll back with it.
 *
 * @internal
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Connection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** One statement (or a few, read-only), run on the connection it is given. */
export type Operation<A> = (connection: Connection.Connection) => Effect.Effect<A, SqlError>

/**
 * Runs the parameters of several queued statements of one shape as one statement, returning each
 * one's result in the order given, or `undefined` when these cannot be merged (the statements then
 * run one by one, in the same transaction).
 */
export type Coalescer = (
  connection: Connection.Connection,
  params: ReadonlyArray<ReadonlyArray<unknown>>
) => Effect.Effect<ReadonlyArray<unknown> | undefined, SqlError>

interface Queued {
  readonly run: Operation<unknown>
  readonly writes: boolean
  /** The shape (a key of `Options.coalesce`) and parameters, for a statement that may be merged. */
  readonly shape: string | undefined
  readonly params: ReadonlyArray<unknown> | undefined
  /** Its outcome, once settled. */
  exit: Exit.Exit<unknown, SqlError> | undefined
  /** The waiting fiber's callback, once it waits. */
  resume: ((exit: Exit.Exit<unknown, SqlError>) => void) | undefined
}

export interface GroupCommit {
  /**
   * Runs `run` in the next batch, resolving once that batch is committed. `writes`: whether it
   * changes the database (a batch with a write takes the write lock up front). `shape` and
   * `params`: a statement that a coalescer of that shape may merge with others of the batch
   * (`run` must then be the same statement, run alone, with the same result).
   */
  readonly submit: <A>(
    run: Operation<A>,
    writes: boolean,
    shape?: string | undefined,
    params?: ReadonlyArray<unknown> | undefined
  ) => Effect.Effect<A, SqlError>
}

export interface Options {
  /** Starts a transaction (SQLite: `BEGIN IMMEDIATE`, which takes the write lock at once). */
  readonly begin: string
  /** How many batches may run at once, each on its own connection. Default 1. */
  readonly lanes?: number | undefined
  /** Coalescers by shape (see `Coalescer`). */
  readonly coalesce?: Readonly<Record<string, Coalescer>> | undefined
}

/** Statements per transaction, at most: a bound on how long one commit holds the connection. */
const MAX_BATCH = 512

/** Group commit over the connections of `sql` (see the module's documentation). */
export const make = (sql: SqlClient.SqlClient, options: Options): GroupCommit => {
  const { begin } = options
  const lanes = Math.max(1, Math.floor(options.lanes ?? 1))
  const coalescers = options.coalesce ?? {}
  let queue: Array<Queued> = []
  // Drains running, and how many of them are gathering (each will cut a batch of what is queued).
  let active = 0
  let gathering = 0

  const settle = (item: Queued, exit: Exit.Exit<unknown, SqlError>) => {
    if (item.exit !== undefined) return
    item.exit = exit
    if (item.resume !== undefined) item.resume(exit)
  }
  // (a callback rather than a `Deferred`: one allocation less per statement, on the hot path)
  const outcome = (item: Queued): Effect.Effect<unknown, SqlError> =>
    Effect.async<unknown, SqlError>((resume) => {
      if (item.exit !== undefined) return resume(item.exit)
      item.resume = resume
    })

  const oneByOne = (connection: Connection.Connection, batch: ReadonlyArray<Queued>) =>
    Effect.forEach(batch, (item) => Effect.map(Effect.exit(item.run(connection)), (exit) => settle(item, exit)), {
      discard: true
    })

  /**
   * The statements of the batch, in the transaction: those of a shape with a coalescer, when
   * there are several, merged into one statement. Fills `results` (by position in the batch);
   * fails at the first failure.
   */
  const runAll = (
    connection: Connection.Connection,
    batch: ReadonlyArray<Queued>,
    results: Array<unknown>
  ): Effect.Effect<void, SqlError> =>
    Effect.gen(function*() {
      let shapes: Map<string, Array<number>> | undefined
      for (let i = 0; i < batch.length; i++) {
        const shape = batch[i]!.shape
        if (shape === undefined || coalescers[shape] === undefined) continue
        shapes ??= new Map()
        const at = shapes.get(shape)
        if (at === undefined) shapes.set(shape, [i])
        else at.push(i)
      }
      const done = new Uint8Array(batch.length)
      if (shapes !== undefined) {
        for (const [shape, at] of shapes) {
          if (at.length < 2) continue
          const merged = yield* coalescers[shape]!(connection, at.map((i) => batch[i]!.params ?? []))
          if (merged === undefined) continue
          at.forEach((i, j) => {
            results[i] = merged[j]
            done[i] = 1
          })
        }
      }
      for (let i = 0; i < batch.length; i++) {
        if (done[i] === 1) continue
        results[i] = yield* batch[i]!.run(connection)
      }
    })

  const inTransaction = (connection: Connection.Connection, batch: ReadonlyArray<Queued>) =>
    Effect.gen(function*() {
      const begun = yield* Effect.exit(connection.executeRaw(begin, []))
      // Could not take the write lock (another process held it past the busy timeout): let each
      // statement try on its own.
      if (Exit.isFailure(begun)) return yield* oneByOne(connection, batch)
      const results: Array<unknown> = new Array(batch.length)
      const ran = yield* Effect.exit(runAll(connection, batch, results))
      if (Exit.isSuccess(ran) && Exit.isSuccess(yield* Effect.exit(connection.executeRaw("COMMIT", [])))) {
        for (let i = 0; i < batch.length; i++) settle(batch[i]!, Exit.succeed(results[i]))
        return
      }
      // Rolled back (a failed statement, or a failed commit): nothing of the batch was written.
      yield* Effect.ignore(connection.executeRaw("ROLLBACK", []))
      yield* oneByOne(connection, batch)
    })

  const runBatch = (connection: Connection.Connection, batch: ReadonlyArray<Queued>): Effect.Effect<void> =>
    batch.length > 1 && batch.some((item) => item.writes) ? inTransaction(connection, batch) : oneByOne(connection, batch)

  /**
   * Runs batches on one reservation of a connection until the queue is empty. A drain started
   * by a submitter (`mine`, its own statement) hands the rest over to a drain of its own once that
   * statement is settled, so no submitter waits on other fibers' statements.
   */
  const drain = (mine: Queued | undefined): Effect.Effect<void> =>
    Effect.scoped(Effect.flatMap(sql.reserve, (connection) =>
      Effect.gen(function*() {
        // Let every fiber that is ready to run queue its statement before the batch is cut.
        yield* Effect.yieldNow()
        while (true) {
          gathering--
          if (queue.length === 0) {
            active--
            return
          }
          if (mine !== undefined && mine.exit !== undefined) {
            // (the new drain takes this one's place, gathering)
            gathering++
            yield* Effect.forkDaemon(drain(undefined))
            return
          }
          const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH)
          queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH)
          const exit = yield* Effect.exit(runBatch(connection, batch))
          // A defect (a bug) in the batch: its statements fail with it rather than wait forever.
          if (Exit.isFailure(exit)) for (const item of batch) settle(item, exit)
          gathering++
          // (a submitter whose statement is settled hands over at once, without waiting)
          if (mine === undefined || mine.exit === undefined) yield* Effect.yieldNow()
        }
      }))).pipe(
        // The connection could not be had (the store is closing), or a bug: fail what waits.
        Effect.catchAllCause((cause) =>
          Effect.sync(() => {
            // (only the reservation fails: the drain was gathering)
            active--
            gathering--
            const stranded = active === 0 ? queue : []
            if (active === 0) queue = []
            for (const item of stranded) settle(item, Exit.failCause(cause) as Exit.Exit<unknown, SqlError>)
            if (mine !== undefined) settle(mine, Exit.failCause(cause) as Exit.Exit<unknown, SqlError>)
          })
        ),
        Effect.uninterruptible
      )

  const submit = <A>(
    run: Operation<A>,
    writes: boolean,
    shape?: string | undefined,
    params?: ReadonlyArray<unknown> | undefined
  ): Effect.Effect<A, SqlError> =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
      // Inside the caller's transaction: part of it, not of a batch.
      if (Option.isSome(transaction)) return run(transaction.value[0])
      return Effect.suspend(() => {
        const item: Queued = { run: run as Operation<unknown>, writes, shape, params, exit: undefined, resume: undefined }
        queue.push(item)
        const wait = outcome(item) as Effect.Effect<A, SqlError>
        // A drain about to cut a batch takes this statement; so does a busy one, when all lanes are.
        if (gathering > 0 || active >= lanes) return wait
        // This fiber drains, until its own statement is settled.
        active++
        gathering++
        return Effect.zipRight(drain(item), wait)
      })
    })

  return { submit }
}
