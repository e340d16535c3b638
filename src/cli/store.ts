/**
 * The options every `ergon` command shares (`--db`, `--schema`, `--json`), the store they open,
 * and the exit codes scripts can rely on.
 *
 * @since 0.1.0
 */
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import type { ExecutionLog } from "../ExecutionLog.js"

/**
 * The exit codes of `ergon`: `0` done; `1` an unexpected failure; `2` a usage error (unknown
 * command, missing or bad argument); `3` a flow was not found; `4` refused (the flow has ended,
 * the payload does not fit, a bulk action without `--yes`); `5` the store is unreachable (cannot be
 * opened, a query failed); `6` `stuck --fail` found stuck flows.
 *
 * @since 0.1.0
 * @category Models
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  refused: 4,
  unreachable: 5,
  stuck: 6
} as const

/**
 * A failure of a command, with the exit code it ends with and what to print.
 *
 * @since 0.1.0
 * @category Errors
 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly code: number
  readonly message: string
}> {}

/**
 * `--db`: a SQLite file or a PostgreSQL URL; `ERGON_DATABASE_URL` when not given.
 *
 * @since 0.1.0
 * @category Models
 */
export const db: Options.Options<string> = Options.text("db").pipe(
  Options.withDescription(
    "The store: a SQLite file, or a PostgreSQL URL (postgresql://user:password@host:5432/database). Defaults to ERGON_DATABASE_URL."
  ),
  Options.withFallbackConfig(Config.string("ERGON_DATABASE_URL"))
)

/**
 * `--schema`: the PostgreSQL schema of the store's tables; `ERGON_SCHEMA` when not given.
 *
 * @since 0.1.0
 * @category Models
 */
export const schema: Options.Options<Option.Option<string>> = Options.text("schema").pipe(
  Options.withDescription("PostgreSQL only: the schema of the store's tables. Defaults to ERGON_SCHEMA, or the server's search_path."),
  Options.withFallbackConfig(Config.string("ERGON_SCHEMA")),
  Options.optional
)

/**
 * `--json`: print JSON for scripts instead of tables.
 *
 * @since 0.1.0
 * @category Models
 */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("Print JSON (for scripts) instead of tables.")
)

/**
 * The store options, together.
 *
 * @since 0.1.0
 * @category Models
 */
export const storeOptions = { db, schema }

const isPostgres = (target: string): boolean => /^postgres(ql)?:\/\//i.test(target)

/**
 * The store behind `--db`: PostgreSQL for a `postgres://` or `postgresql://` URL, otherwise an
 * existing SQLite file (a path that does not exist is refused rather than created). A store that
 * cannot be opened fails with exit code 5.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: { readonly db: string; readonly schema: Option.Option<string> }): Layer.Layer<ExecutionLog, CliError> => {
  const unreachable = (error: { readonly message: string }) => new CliError({ code: ExitCode.unreachable, message: error.message })
  // Only the driver of the store in use is loaded (a command starts faster); drivers are optional
  // peer dependencies of the package, so one may be missing.
  const load = <A>(module: () => Promise<A>, driver: string) =>
    Effect.tryPromise({
      try: module,
      catch: () =>
        new CliError({
          code: ExitCode.unreachable,
          message: `the store needs ${driver}, an optional peer dependency of ergon that is not installed here: npm install ${driver}`
        })
    })
  if (isPostgres(options.db)) {
    return Layer.unwrapEffect(load(() => import("../pg.js"), "@effect/sql-pg").pipe(Effect.map((Pg) =>
      Pg.layer({
        url: options.db,
        connectTimeout: "5 seconds",
        maxConnections: 4,
        ...(Option.isSome(options.schema) ? { schema: options.schema.value } : {})
      }).pipe(Layer.mapError(unreachable))
    )))
  }
  if (!fs.existsSync(options.db)) {
    return Layer.fail(new CliError({ code: ExitCode.unreachable, message: `there is no SQLite database at '${options.db}'` }))
  }
  return Layer.unwrapEffect(load(() => import("../sqlite.js"), "@effect/sql-sqlite-node").pipe(Effect.map((Sqlite) =>
    Sqlite.layer({ filename: options.db }).pipe(Layer.mapError(unreachable))
  )))
}
