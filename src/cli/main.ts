/**
 * The `ergon` command line: the root command and its subcommands, one group per file of
 * `src/cli/`. A new group is one entry in `subcommands`.
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
import * as VersionCommand from "./version.js"

/**
 * The subcommands of `ergon`, one per file of `src/cli/`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const subcommands = [
  VersionCommand.command
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

/** Exit code 2 for wrong arguments, as most command lines do; 1 for every other failure. */
const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return 0
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) && ValidationError.isValidationError(failure.value) ? 2 : 1
}

/**
 * Prints a failure once: a `ValidationError` was already printed with the usage; an error of a
 * command as `ergon: <message>`; anything else (a defect) with its cause.
 */
const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (ValidationError.isValidationError(error)) return Effect.void
    if (error instanceof Error) return Console.error(`ergon: ${error.message}`)
  }
  return Console.error(`ergon: unexpected failure\n${Cause.pretty(cause)}`)
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
