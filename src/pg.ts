/**
 * The PostgreSQL store (`ergon/pg`): one Layer that connects to a PostgreSQL database, checks the
 * connection, applies the store's migrations and provides `ExecutionLog`, together with the
 * `SqlClient` (a `PgClient`) it opened.
 *
 * Any number of processes on any number of machines may share one database: claims use
 * `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same flow.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { ExecutionLog, makeUnsafe } from "./ExecutionLog.js"
import { StoreError } from "./FlowError.js"
import * as ExecutionLogSql from "./sql/ExecutionLogSql.js"
import * as Migrations from "./sql/migrations.js"

/**
 * Where the PostgreSQL store connects: a connection URL
 * (`postgresql://user:password@host:5432/database`), or its parts.
 *
 * @since 0.1.0
 * @category Models
 */
export type Connection =
  | { readonly url: string | Redacted.Redacted<string> }
  | {
    readonly host: string
    readonly port?: number | undefined
    readonly database: string
    readonly username: string
    readonly password?: string | Redacted.Redacted<string> | undefined
  }

/**
 * How to open a PostgreSQL store: a `Connection`, plus
 *
 * - `schema`: a PostgreSQL schema for the store's tables (and its migrations table). It is
 *   created when missing, and every connection of the pool gets it as its `search_path`.
 *   Defaults to none: the tables go where the server's default `search_path` puts them
 *   (usually `public`). A plain identifier: letters, digits, `_` and `$`, not starting with a digit.
 * - `connectTimeout`: how long opening waits for the first connection before failing.
 *   Defaults to 5 seconds.
 * - `maxConnections`: the size of the connection pool. Defaults to the driver's (10).
 * - `groupCommit`: write the statements of concurrent flows in shared transactions on one
 *   connection (see docs/performance.md). Defaults to `false`: PostgreSQL already groups the
 *   commits of concurrent connections.
 *
 * @since 0.1.0
 * @category Models
 */
export type Options = Connection & {
  readonly schema?: string | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly maxConnections?: number | undefined
  readonly groupCommit?: boolean | undefined
}

interface Target {
  readonly url: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly username: string
}

const schemaPattern = /^[A-Za-z_][A-Za-z0-9_$]*$/

const openError = (target: string, cause: unknown): StoreError =>
  ExecutionLogSql.storeError("open", cause, `cannot open the PostgreSQL database ${target}`)

const describeTarget = (target: Target): string =>
  `'${target.database}' at ${target.host}:${target.port} as user '${target.username}'`

// The connection URL PgClient gets, with the schema as a startup `search_path` (the `options`
// parameter of node-postgres), so that every connection of the pool uses it from its first query.
const targetOf = (options: Options): Target => {
  let url: URL
  if ("url" in options) {
    const raw = Redacted.isRedacted(options.url) ? Redacted.value(options.url) : options.url
    url = new URL(raw)
  } else {
    url = new URL("postgresql://localhost")
    const socket = options.host.startsWith("/")
    if (socket) url.searchParams.set("host", options.host)
    else url.hostname = options.host.includes(":") && !options.host.startsWith("[") ? `[${options.host}]` : options.host
    if (options.port !== undefined) url.port = String(options.port)
    url.username = encodeURIComponent(options.username)
    if (options.password !== undefined) {
      const password = Redacted.isRedacted(options.password) ? Redacted.value(options.password) : options.password
      url.password = encodeURIComponent(password)
    }
    url.pathname = `/${encodeURIComponent(options.database)}`
  }
  if (options.schema !== undefined) {
    const previous = url.searchParams.get("options")
    const searchPath = `-c search_path="${options.schema}"`
    url.searchParams.set("options", previous === null ? searchPath : `${previous} ${searchPath}`)
  }
  const username = decodeURIComponent(url.username) || url.searchParams.get("user") || process.env["PGUSER"] || "postgres"
  const database = decodeURIComponent(url.pathname.slice(1)) || url.searchParams.get("database") || username
  const host = url.searchParams.get("host") ?? (url.hostname === "" ? "localhost" : url.hostname)
  const port = Number(url.searchParams.get("port") ?? (url.port === "" ? "5432" : url.port))
  return { url: url.toString(), host, port, database, username }
}

const open = (
  options: Options
): Effect.Effect<PgClient.PgClient, StoreError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const target = yield* Effect.try({
      try: () => targetOf(options),
      catch: (cause) => openError("(the connection URL is invalid)", cause)
    })
    const where = describeTarget(target)
    const schema = options.schema
    if (schema !== undefined && !schemaPattern.test(schema)) {
      return yield* Effect.fail(openError(where, `the schema name '${schema}' is not a plain identifier`))
    }
    const timeout = Duration.decodeUnknown(options.connectTimeout ?? Duration.seconds(5))
    if (Option.isNone(timeout)) {
      return yield* Effect.fail(openError(where, `connectTimeout is not a duration: '${String(options.connectTimeout)}'`))
    }
    // PgClient.make runs a `SELECT 1` under this timeout, so an unreachable server or a wrong
    // password fails here, not at the first query. The outer timeout is a backstop.
    const client = yield* PgClient.make({
      url: Redacted.make(target.url),
      connectTimeout: timeout.value,
      ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections })
    }).pipe(
      Effect.timeoutFail({
        duration: Duration.sum(timeout.value, Duration.seconds(1)),
        onTimeout: () => `no connection within ${Duration.format(timeout.value)}`
      }),
      Effect.mapError((cause) => openError(where, cause))
    )
    if (schema !== undefined) {
      // Two processes may create the schema at once: the loser sees it on the retry.
      yield* client.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`).withoutTransform.pipe(
        Effect.retry({ times: 1 }),
        Effect.mapError((cause) => openError(`${where} (creating the schema '${schema}')`, cause))
      )
    }
    return client
  }).pipe(Effect.catchAllDefect((defect) => Effect.fail(openError("", defect))))

/**
 * Connects to PostgreSQL, checks the connection, creates the `schema` when one is given, applies
 * the store's migrations, and provides `ExecutionLog`, plus the `SqlClient` and `PgClient` it
 * opened (for tools, tests, and writes that share a transaction with `schedule`).
 *
 * Fails fast with a `StoreError` whose `operation` is `"open"` when the database cannot be
 * reached (naming host and port) or refuses the credentials (naming the user), and `"migrate"`
 * when the migrations fail. The pool is closed when the Layer's scope closes.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (
  options: Options
): Layer.Layer<ExecutionLog | SqlClient.SqlClient | PgClient.PgClient, StoreError> => {
  const client = Layer.scopedContext(
    Effect.map(open(options), (client) =>
      Context.make(PgClient.PgClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
  return Layer.provideMerge(store(options.groupCommit ?? false), client)
}

// The SQL store, plus `changes` from LISTEN on the store's channel, kept to this store's schema.
const store = (groupCommit: boolean): Layer.Layer<ExecutionLog, StoreError, PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.effect(
  ExecutionLog,
  Effect.gen(function*() {
    yield* ExecutionLogSql.migrate
    const backend = yield* ExecutionLogSql.makeWith({ groupCommit })
    const client = yield* PgClient.PgClient
    const rows = yield* client.unsafe<{ readonly schema: string | null }>(`SELECT current_schema() AS schema`)
      .withoutTransform.pipe(Effect.mapError((cause) => ExecutionLogSql.storeError("open", cause)))
    const schema = rows[0]?.schema ?? "public"
    return makeUnsafe({ ...backend, changes: changes(client, schema) })
  })
)

const liveClock = Clock.make()

// How often the listening connection is checked, and how long an answer may take.
const pingEvery = Duration.seconds(5)
const pingTimeout = Duration.seconds(5)
const pingRetry = Duration.millis(200)

/**
 * The store's notifications (see the `2_notify` migration) for `schema`, as a stream of "look
 * again". `PgClient.listen` does not fail when its connection is lost (it only stops hearing), so
 * the connection is checked: a ping is sent on the channel every few seconds and must come back
 * within `pingTimeout`, or the stream fails with a `StoreError` (`operation: "listen"`), and the
 * follower subscribes again on a new connection. The first answer also emits: notifications sent
 * before the subscription was listening (or while it was down) are not lost, since the follower
 * looks again then.
 */
const changes = (client: PgClient.PgClient, schema: string): Stream.Stream<void, StoreError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const token = `ping ${crypto.randomUUID()} `
    let round = 0
    let answered = yield* Deferred.make<void>()
    const listenError = (cause: unknown) => ExecutionLogSql.storeError("listen", cause, "listening for changes")
    // Sends pings until the current one comes back (the first may go out before LISTEN is active).
    const ping = Effect.suspend(() => {
      const current = answered
      // Not `client.notify`: it sends `NOTIFY channel, $1`, which PostgreSQL cannot bind.
      // Never cancelled mid-flight when the answer wins the race: a cancel (pg_cancel_backend)
      // may land on the next statement of that pooled connection instead, another flow's.
      const send = Effect.disconnect(Effect.uninterruptible(Effect.suspend(() =>
        client.unsafe(`SELECT pg_notify($1, $2)`, [Migrations.notifyChannel, `${token}${round}`]).withoutTransform
      )))
      return Effect.raceFirst(
        Deferred.await(current),
        Effect.forever(Effect.zipRight(send, Effect.sleep(pingRetry)))
      ).pipe(
        Effect.timeoutFail({
          duration: pingTimeout,
          onTimeout: () => listenError(`no answer to a ping within ${Duration.format(pingTimeout)}`)
        }),
        Effect.mapError((error) => error instanceof StoreError ? error : listenError(error))
      )
    })
    const heard = client.listen(Migrations.notifyChannel).pipe(
      Stream.mapError(listenError),
      Stream.mapEffect((payload) => {
        if (payload === schema) return Effect.succeed(true)
        if (payload === `${token}${round}`) return Effect.as(Deferred.succeed(answered, undefined), round === 0)
        return Effect.succeed(false)
      }),
      Stream.filter((wake) => wake),
      Stream.as(undefined)
    )
    // On the real clock, even under `TestClock`: this is about the connection, not durable time.
    const watchdog = Stream.fromEffect(
      Effect.withClock(
        Effect.forever(
          Effect.gen(function*() {
            yield* ping
            yield* Effect.sleep(pingEvery)
            round++
            answered = yield* Deferred.make<void>()
          })
        ),
        liveClock
      )
    ).pipe(Stream.drain)
    return Stream.merge(heard, watchdog, { haltStrategy: "either" })
  }))

/**
 * Like `layer`, with the options read from Effect's `Config`. Without an argument it reads the
 * connection URL from `ERGON_DATABASE_URL`; otherwise it reads the given options, for example
 * `layerConfig({ url: Config.redacted("DATABASE_URL"), schema: Config.string("ERGON_SCHEMA") })`.
 * Fails with a `ConfigError` when the configuration is missing or invalid.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options> = { url: Config.redacted("ERGON_DATABASE_URL") }
): Layer.Layer<
  ExecutionLog | SqlClient.SqlClient | PgClient.PgClient,
  StoreError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
