import type * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"

/**
 * The logs an operator reads (info and above): one sentence as the message, so that any logger
 * prints it on one line, and the details as annotations (`ergon.event`, `ergon.flow.id`, …), so
 * that a structured logger (`Logger.json`, OpenTelemetry) can filter on them. A flow's failure
 * carries its cause. Per-step detail stays at debug level, in the engine's own shape.
 */
export const log = (
  level: "Info" | "Warning" | "Error",
  message: string,
  annotations: Readonly<Record<string, string | number | boolean | null>>,
  cause?: Cause.Cause<unknown> | undefined
): Effect.Effect<void> => {
  const fields: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(annotations)) if (value !== null) fields[key] = value
  return Effect.annotateLogs(
    cause === undefined
      ? Effect.logWithLevel(LogLevel.fromLiteral(level), message)
      : Effect.logWithLevel(LogLevel.fromLiteral(level), message, cause),
    fields
  )
}

/** A version as the logs say it. */
export const versionText = (version: string | null): string => (version === null ? "unversioned" : `version ${version}`)
