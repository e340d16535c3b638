/**
 * The `ergon` command line: the root command and its subcommands, one group per file of
 * `src/cli/`. A new group is one entry in `subcommands`. The commands on a store (`list`, `show`,
 * `cancel`, `retry`, `signal`, `workers`, `stuck`) exit with the codes of `./store.js`
 * (`ExitCode`): 3 not found, 4 refused, 5 store unreachable, 6 stuck flows (with `stuck --fail`).
 *
 * It runs on `@effect/cli` and `@effect/platform-node`, optional peer dependencies of the package
 * that only the command line needs; `bin.ts` says what to install when they are missing.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as Cancel from "./cancel.js"
import * as List from "./list.js"
import * as Retry from "./retry.js"
import * as Show from "./show.js"
import * as Signal from "./signal.js"
import { CliError, ExitCode } from "./store.js"
import * as Stuck from "./stuck.js"
import * as VersionCommand from "./version.js"
import * as Workers from "./workers.js"

/**
 * The subcommands of `ergon`, one per file of `src/cli/`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const subcommands = [
  VersionCommand.command,
  List.command,
  Show.command,
  Cancel.command,
  Retry.command,
  Signal.command,
  Workers.command,
  Stuck.command
] as const

/**
 * The root command, `ergon`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Command.make("ergon").pipe(
  Command.withDescription("Ergon's command line: durable execution for Effect."),
  Command.withSubcommands(subcommands)
)

/**
 * The version of this package, read from its `package.json` (two folders up from `src/cli/` and
 * from `dist/cli/` alike), for `ergon --version`. Not from `src/PackageVersion.ts`: the command
 * line writes that file, so it must run without it.
 */
function ownVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { readonly version?: unknown }
    return typeof pkg.version === "string" ? pkg.version : "unknown"
  } catch {
    return "unknown"
  }
}

/**
 * Runs the command line on `argv` (as `process.argv`: the runtime and the script first). Wrong
 * arguments fail with a `ValidationError` after `@effect/cli` has printed what is wrong.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const run = Command.run(command, { name: "ergon", version: ownVersion() })

/**
 * A failure's exit code and what to print: 2 for wrong arguments (already printed with the usage),
 * as most command lines do; the code a command chose (`CliError`); 3, 4 and 5 for a flow not
 * found, a request refused, a store that failed; 1 for anything else.
 */
const failureOf = (cause: Cause.Cause<unknown>): { readonly code: number; readonly message: string | undefined } => {
  if (Cause.isInterruptedOnly(cause)) return { code: ExitCode.ok, message: undefined }
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return { code: ExitCode.failure, message: `unexpected failure\n${Cause.pretty(cause)}` }
  const error = failure.value
  if (ValidationError.isValidationError(error)) return { code: ExitCode.usage, message: undefined }
  if (error instanceof CliError) return { code: error.code, message: error.message === "" ? undefined : error.message }
  const message = error instanceof Error ? error.message : String(error)
  switch ((error as { readonly _tag?: unknown })._tag) {
    case "FlowNotFoundError":
      return { code: ExitCode.notFound, message }
    case "FlowEndedError":
    case "InvalidSignalError":
      return { code: ExitCode.refused, message }
    case "StoreError":
      return { code: ExitCode.unreachable, message: `the store failed: ${message}` }
    default:
      return { code: ExitCode.failure, message }
  }
}

const exitCode = (exit: Exit.Exit<unknown, unknown>): number => (Exit.isSuccess(exit) ? ExitCode.ok : failureOf(exit.cause).code)

/** Prints a failure once, as `ergon: <message>` (wrong arguments were printed with the usage). */
const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  const { message } = failureOf(cause)
  return message === undefined ? Effect.void : Console.error(`ergon: ${message}`)
}

/**
 * Runs the command line as the program of this process: SIGINT and SIGTERM interrupt it, and the
 * process exits with 0 on success, 2 on wrong arguments, 1 on any other failure.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const main = (argv: ReadonlyArray<string>): void =>
  NodeRuntime.runMain(
    run(argv).pipe(Effect.tapErrorCause(report), Effect.provide(NodeContext.layer)),
    {
      disableErrorReporting: true,
      teardown: (exit, onExit) => onExit(exitCode(exit))
    }
  )
