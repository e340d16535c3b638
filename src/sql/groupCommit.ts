/**
 * Group commit, for a store on one connection (SQLite): the statements of concurrent flows share
 * one transaction, so one durable commit (one `fsync` with `synchronous=FULL`) serves many
 * checkpoints.
 *
 * A statement is queued and its fiber waits; the first statement of a burst starts a drain, which
 * first yields, so that every other fiber ready to run gets to queue its own, then takes the
 * connection once, runs the whole queue in one transaction (`begin`, each statement,
 * `COMMIT`) and gives each statement its result only after the `COMMIT` returned: a flow goes on
 * only once its own checkpoint is durable, and never acts on a read of something that was not
 * committed. Statements queued during a commit form the next batch. A lone statement runs by
 * itself, with no transaction around it, so a sequential workload pays nothing but the queueing.
 *
 * Statements run on the connection directly, not through `SqlClient`'s statement path (its span,
 * semaphore and connection lookup per statement cost several times what SQLite itself does).
 *
 * A batch whose transaction fails (one statement failed, or the commit) is rolled back as a whole,
 * and its statements are run again one by one, each in its own implicit transaction, so each gets
 * its own result or error and one bad statement fails no other.
 *
 * Statements run inside a transaction of the caller's (`SqlClient.withTransaction`, for
 * transactional scheduling) are not queued: they run at once on that transaction's connection and
 * commit or roll back with it.
 *
 * @internal
 */
import type * as Connection from "@effect/sql/SqlConnection"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"

/** One statement (or a few, read-only), run on the connection it is given. */
export type Operation<A> = (connection: Connection.Connection) => Effect.Effect<A, SqlError>

interface Queued {
  readonly run: Operation<unknown>
  readonly writes: boolean
  /** Its outcome, once settled. */
  exit: Exit.Exit<unknown, SqlError> | undefined
  /** The waiting fiber's callback, once it waits. */
  resume: ((exit: Exit.Exit<unknown, SqlError>) => void) | undefined
}

export interface GroupCommit {
  /**
   * Runs `run` in the next batch, resolving once that batch is committed. `writes`: whether it
   * changes the database (a batch with a write takes the write lock up front).
   */
  readonly submit: <A>(run: Operation<A>, writes: boolean) => Effect.Effect<A, SqlError>
}

/** Statements per transaction, at most: a bound on how long one commit holds the connection. */
const MAX_BATCH = 512

/**
 * Group commit over the connection of `sql` (see the module's documentation). `begin` starts a
 * transaction that takes the write lock at once (SQLite: `BEGIN IMMEDIATE`, so a batch never has
 * to upgrade a read lock, which fails at once when another process wrote meanwhile).
 */
export const make = (sql: SqlClient.SqlClient, begin: string): GroupCommit => {
  let queue: Array<Queued> = []
  let draining = false

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

  const inTransaction = (connection: Connection.Connection, batch: ReadonlyArray<Queued>) =>
    Effect.gen(function*() {
      const begun = yield* Effect.exit(connection.executeRaw(begin, []))
      // Could not take the write lock (another process held it past the busy timeout): let each
      // statement try on its own.
      if (Exit.isFailure(begun)) return yield* oneByOne(connection, batch)
      const results: Array<unknown> = []
      let failed = false
      for (const item of batch) {
        const exit = yield* Effect.exit(item.run(connection))
        if (Exit.isFailure(exit)) {
          failed = true
          break
        }
        results.push(exit.value)
      }
      if (!failed && Exit.isSuccess(yield* Effect.exit(connection.executeRaw("COMMIT", [])))) {
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
   * Runs batches on one reservation of the connection until the queue is empty. A drain started
   * by a submitter (`mine`, its own statement) hands the rest over to a drain of its own once that
   * statement is settled, so no submitter waits on other fibers' statements.
   */
  const drain = (mine: Queued | undefined): Effect.Effect<void> =>
    Effect.scoped(Effect.flatMap(sql.reserve, (connection) =>
      Effect.gen(function*() {
        // Let every fiber that is ready to run queue its statement before the batch is cut.
        yield* Effect.yieldNow()
        while (true) {
          if (queue.length === 0) {
            draining = false
            return
          }
          if (mine !== undefined && mine.exit !== undefined) {
            yield* Effect.forkDaemon(drain(undefined))
            return
          }
          const batch = queue.length <= MAX_BATCH ? queue : queue.slice(0, MAX_BATCH)
          queue = queue.length <= MAX_BATCH ? [] : queue.slice(MAX_BATCH)
          const exit = yield* Effect.exit(runBatch(connection, batch))
          // A defect (a bug) in the batch: its statements fail with it rather than wait forever.
          if (Exit.isFailure(exit)) for (const item of batch) settle(item, exit)
          // (a submitter whose statement is settled hands over at once, without waiting)
          if (mine === undefined || mine.exit === undefined) yield* Effect.yieldNow()
        }
      }))).pipe(
        // The connection could not be had (the store is closing), or a bug: fail what waits.
        Effect.catchAllCause((cause) =>
          Effect.sync(() => {
            const stranded = queue
            queue = []
            draining = false
            for (const item of stranded) settle(item, Exit.failCause(cause) as Exit.Exit<unknown, SqlError>)
            if (mine !== undefined) settle(mine, Exit.failCause(cause) as Exit.Exit<unknown, SqlError>)
          })
        ),
        Effect.uninterruptible
      )

  const submit = <A>(run: Operation<A>, writes: boolean): Effect.Effect<A, SqlError> =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
      // Inside the caller's transaction: part of it, not of a batch.
      if (Option.isSome(transaction)) return run(transaction.value[0])
      return Effect.suspend(() => {
        const item: Queued = { run: run as Operation<unknown>, writes, exit: undefined, resume: undefined }
        queue.push(item)
        const wait = outcome(item) as Effect.Effect<A, SqlError>
        if (draining) return wait
        // No drain running: this fiber drains, until its own statement is settled.
        draining = true
        return Effect.zipRight(drain(item), wait)
      })
    })

  return { submit }
}
