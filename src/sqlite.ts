/**
 * The SQLite store (`ergon/sqlite`): one Layer that opens a SQLite file, configures it for
 * durable execution, applies the store's migrations and provides `ExecutionLog`, together with
 * the `SqlClient` it opened.
 *
 * Several processes on one machine may share a file: SQLite runs in WAL mode, and writers wait
 * for each other up to `busyTimeout`.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as ExecutionLog from "./ExecutionLog.js"
import { StoreError } from "./FlowError.js"
import * as ExecutionLogSql from "./sql/ExecutionLogSql.js"

/**
 * How to open a SQLite store.
 *
 * - `filename`: the database file. Its folder must exist; the file is created when missing.
 *   `":memory:"` opens a private in-memory database.
 * - `synchronous`: SQLite's `synchronous` level. `"FULL"` (the default) makes every commit
 *   durable across a power loss; `"NORMAL"` is faster, and in WAL mode may lose the last commits
 *   (never corrupt the file) on a power loss, not on a process crash.
 * - `busyTimeout`: how long a write waits for another connection's lock before failing.
 *   Defaults to 5 seconds.
 * - `readonly`: open the file read-only; every write then fails with a `StoreError`. Defaults
 *   to `false`. The file must exist and already be migrated.
 * - `groupCommit`: the checkpoints of concurrent flows are written in one transaction, one
 *   commit (one wait for the disk) for many, and each flow goes on only once its own checkpoint
 *   is committed. Defaults to `true`; `false` commits every write on its own. See
 *   docs/performance.md.
 * - `maxPayloadBytes`, `maxDepth`: the largest payload the store accepts (bytes of JSON, default
 *   4 MiB) and how deeply it may nest (default 128); see `ExecutionLog.Limits` and docs/storage.md.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Options extends ExecutionLog.LimitsOptions {
  readonly filename: string
  readonly synchronous?: "FULL" | "NORMAL" | undefined
  readonly busyTimeout?: Duration.DurationInput | undefined
  readonly readonly?: boolean | undefined
  readonly groupCommit?: boolean | undefined
}

// The largest value `PRAGMA busy_timeout` takes (a C int of milliseconds).
const maxBusyTimeout = 2_147_483_647

const openError = (filename: string, cause: unknown): StoreError =>
  ExecutionLogSql.storeError("open", cause, `cannot open the SQLite database '${filename}'`)

const describeCause = (cause: unknown): string => {
  const inner = (cause as { readonly cause?: unknown }).cause
  const code = (inner as { readonly code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : String(cause)
}

// `SqliteClient.make` opens the file synchronously, and better-sqlite3 throws when it cannot
// (a missing folder): that arrives as a defect, and becomes a `StoreError` here. A path that is
// a folder opens, and fails at the first statement: the pragmas below.
const open = (
  options: Options
): Effect.Effect<SqliteClient.SqliteClient, StoreError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const { filename } = options
    const synchronous = options.synchronous ?? "FULL"
    if (synchronous !== "FULL" && synchronous !== "NORMAL") {
      return yield* Effect.fail(openError(filename, `synchronous must be "FULL" or "NORMAL", not '${String(synchronous)}'`))
    }
    const busyTimeout = Duration.decodeUnknown(options.busyTimeout ?? Duration.seconds(5))
    if (Option.isNone(busyTimeout)) {
      return yield* Effect.fail(openError(filename, `busyTimeout is not a duration: '${String(options.busyTimeout)}'`))
    }
    const busyMillis = Math.min(maxBusyTimeout, Math.max(0, Math.floor(Duration.toMillis(busyTimeout.value))))
    const readonly = options.readonly ?? false

    const client = yield* SqliteClient.make({ filename, readonly, disableWAL: true })
    // Set on the connection explicitly, right after it opens: better-sqlite3 gives a connection
    // that reopens an existing WAL file `synchronous = NORMAL` otherwise. `journal_mode` goes
    // first, as switching to WAL resets `synchronous`.
    const pragmas = [
      `PRAGMA busy_timeout = ${busyMillis}`,
      // A read-only connection cannot change the journal mode; a WAL file stays in WAL.
      ...(readonly ? [] : ["PRAGMA journal_mode = WAL"]),
      `PRAGMA synchronous = ${synchronous}`,
      "PRAGMA foreign_keys = ON"
    ]
    for (const pragma of pragmas) {
      yield* client.unsafe(pragma).withoutTransform
    }
    if (!readonly) {
      // SQLite opens a file it may not write read-only, silently: every write would then fail,
      // forever (the connection stays read-only when the file becomes writable again). A write
      // that changes nothing (the header's user_version, set to itself) finds out now.
      const rows = yield* client.unsafe<{ readonly user_version: number }>("PRAGMA user_version").withoutTransform
      const version = Number(rows[0]?.user_version ?? 0)
      yield* client.unsafe(`PRAGMA user_version = ${version}`).withoutTransform.pipe(
        Effect.mapError((cause) =>
          openError(filename, new Error(`the file opened read-only (this process may not write it or its folder): ${describeCause(cause)}`))
        )
      )
    }
    return client
  }).pipe(
    Effect.catchAll((error) => Effect.fail(error instanceof StoreError ? error : openError(options.filename, error))),
    Effect.catchAllDefect((defect) => Effect.fail(openError(options.filename, defect)))
  )

/**
 * Opens (creating it when missing) the SQLite file, sets WAL mode, the `synchronous` level,
 * the busy timeout and foreign keys on the connection, applies the store's migrations, and
 * provides `ExecutionLog`, plus the `SqlClient` and `SqliteClient` it opened (for tools and
 * tests).
 *
 * Fails with a `StoreError` whose `operation` is `"open"` (naming the path) when the file cannot
 * be opened, such as a folder that does not exist or a path that is a folder, and `"migrate"` when
 * the migrations fail. The connection is closed when the Layer's scope closes. Defaults:
 * `synchronous: "FULL"`, `busyTimeout: 5 seconds`, `readonly: false`.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options
): Layer.Layer<ExecutionLog.ExecutionLog | SqlClient.SqlClient | SqliteClient.SqliteClient, StoreError> => {
  const client = Layer.scopedContext(
    Effect.map(open(options), (client) =>
      Context.make(SqliteClient.SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
  return Layer.provideMerge(
    ExecutionLogSql.layerWith({
      groupCommit: options.groupCommit ?? true,
      maxPayloadBytes: options.maxPayloadBytes,
      maxDepth: options.maxDepth
    }),
    client
  )
}

/**
 * Like `layer`, with the options read from Effect's `Config`, for example
 * `layerConfig({ filename: Config.string("ERGON_SQLITE_FILE") })`. Fails with a `ConfigError`
 * when the configuration is missing or invalid.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  ExecutionLog.ExecutionLog | SqlClient.SqlClient | SqliteClient.SqliteClient,
  StoreError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * A SQLite store in memory (`":memory:"`), for tests: each build of the Layer gets a new, empty
 * database, gone when the Layer's scope closes.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerInMemory = (): Layer.Layer<
  ExecutionLog.ExecutionLog | SqlClient.SqlClient | SqliteClient.SqliteClient,
  StoreError
> => layer({ filename: ":memory:" })
