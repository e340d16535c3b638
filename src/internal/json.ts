/**
 * The one place that decides whether a value can be stored, and how text a store keys by is
 * checked: every payload Ergon writes (inputs, results, journal entries, signal payloads, engine
 * errors) is JSON text, and a value that JSON would change on the way (`NaN` read back as `null`,
 * a `Date` as a string, a bigint or a cycle that throws) is refused with a typed error instead of
 * being stored changed.
 *
 * What is storable, exactly: `null`, booleans, finite numbers, strings, arrays of storable values,
 * and objects whose own enumerable string-keyed properties are storable or `undefined` (a property
 * holding `undefined` is left out, as JSON leaves it out and as Schema reads a missing key). An
 * object with a `toJSON` method (a `Date`), a `Map`, `Set`, `RegExp`, `Error`, typed array or boxed
 * primitive is refused: JSON would store something else. Instances of classes of plain fields
 * (`Data` values) are stored as their fields. Nested at most `maxDepth` levels, and at most
 * `maxPayloadBytes` bytes of UTF-8 once serialised. A `__proto__` key is an ordinary key (JSON
 * keeps it). Strings may hold any code unit: JSON escapes lone surrogates and NUL, so they come
 * back exactly.
 */
import { CheckpointDecodeError, InvalidIdError, StoreError, UnstorableValueError } from "../FlowError.js"

/**
 * The limits of stored values.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Limits {
  /** The largest payload, in bytes of its UTF-8 JSON text. Defaults to 4 MiB. */
  readonly maxPayloadBytes: number
  /** How deeply arrays and objects may nest. Defaults to 128. */
  readonly maxDepth: number
}

/** `Limits` as options: each may be left out (or `undefined`) for its default. */
export interface LimitsOptions {
  readonly maxPayloadBytes?: number | undefined
  readonly maxDepth?: number | undefined
}

/** 4 MiB: far above a checkpoint's usual size, far below what hurts a worker running 16 flows. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
export const DEFAULT_MAX_DEPTH = 128

export const defaultLimits: Limits = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, maxDepth: DEFAULT_MAX_DEPTH }

/** Fills in the defaults and checks the numbers: a limit that is not a positive integer is refused. */
export const makeLimits = (options: LimitsOptions | undefined): Limits => {
  const limits: Limits = {
    maxPayloadBytes: options?.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
    maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH
  }
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`ergon: the store option ${name} must be a positive integer, not ${String(value)}`)
    }
  }
  return limits
}

type Reason = UnstorableValueError["reason"]

interface Problem {
  readonly reason: Reason
  readonly path: string
  readonly detail: string
}

const pathOf = (parent: string, key: string | number): string =>
  typeof key === "number" ? `${parent}[${key}]` : /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`

const describeNumber = (value: number): string => (Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity")

/**
 * How JSON would change an object that is not a plain one, or `undefined` when it would keep it
 * (an instance of a class of plain fields, such as `Data` values, is kept as its own fields).
 */
const changedByJson = (value: object): string | undefined => {
  if (typeof (value as { readonly toJSON?: unknown }).toJSON === "function") return "store what its toJSON() returns"
  if (
    value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet ||
    value instanceof RegExp || value instanceof Promise || value instanceof Error ||
    ArrayBuffer.isView(value) || value instanceof ArrayBuffer ||
    value instanceof Number || value instanceof String || value instanceof Boolean
  ) return "store {} or only some of its fields"
  return undefined
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const kindOf = (value: object): string => {
  const name = (value as { readonly constructor?: { readonly name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" ? `a ${name}` : "an object with a prototype"
}

/**
 * Walks a value without recursion (a value nested far deeper than the limit cannot overflow the
 * stack) and returns the first reason it cannot be stored exactly, or `undefined`.
 */
export const findProblem = (value: unknown, maxDepth: number): Problem | undefined => {
  // Each frame: a value, its path, its depth; `exit` frames take a container off the ancestors.
  const stack: Array<{ readonly value: unknown; readonly path: string; readonly depth: number; readonly exit?: object }> = [
    { value, path: "$", depth: 0 }
  ]
  const ancestors = new Set<object>()
  while (stack.length > 0) {
    const frame = stack.pop()!
    if (frame.exit !== undefined) {
      ancestors.delete(frame.exit)
      continue
    }
    const { depth, path } = frame
    const current = frame.value
    switch (typeof current) {
      case "string":
      case "boolean":
        continue
      case "number":
        if (!Number.isFinite(current)) {
          return { reason: "number", path, detail: `${describeNumber(current)} is not a JSON number (JSON would store null)` }
        }
        continue
      case "bigint":
        return { reason: "bigint", path, detail: `the bigint ${String(current)}n has no JSON form (encode it as a string)` }
      case "undefined":
        return { reason: "undefined", path, detail: "undefined has no JSON form (JSON would store null or drop it)" }
      case "function":
        return { reason: "function", path, detail: "a function has no JSON form (JSON would drop it)" }
      case "symbol":
        return { reason: "symbol", path, detail: "a symbol has no JSON form (JSON would drop it)" }
    }
    if (current === null) continue
    const object = current as object
    if (ancestors.has(object)) return { reason: "cycle", path, detail: "the value contains itself (a cycle)" }
    if (depth >= maxDepth) {
      return { reason: "depth", path, detail: `nested deeper than ${maxDepth} levels` }
    }
    if (Array.isArray(object)) {
      ancestors.add(object)
      stack.push({ value: undefined, path, depth, exit: object })
      for (let i = object.length - 1; i >= 0; i--) {
        if (!(i in object)) return { reason: "undefined", path: pathOf(path, i), detail: "a hole in an array (JSON would store null)" }
        stack.push({ value: object[i], path: pathOf(path, i), depth: depth + 1 })
      }
      continue
    }
    if (!isPlainObject(object)) {
      const changed = changedByJson(object)
      if (changed !== undefined) {
        return { reason: "object", path, detail: `${kindOf(object)} is not plain data (JSON would ${changed}); encode it with a Schema` }
      }
    }
    ancestors.add(object)
    stack.push({ value: undefined, path, depth, exit: object })
    const keys = Object.keys(object)
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!
      const field = (object as Record<string, unknown>)[key]
      // Left out, as JSON leaves it out: Schema reads a missing key as `undefined`.
      if (field === undefined) continue
      stack.push({ value: field, path: pathOf(path, key), depth: depth + 1 })
    }
  }
  return undefined
}

/** The UTF-8 length of a string. */
const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

/**
 * Serialises a value that must come back exactly: the JSON text, or the `UnstorableValueError`
 * saying what (`what`, e.g. "the result of step 'charge'") cannot be stored, where in it and why.
 */
export const encode = (value: unknown, what: string, limits: Limits): string | UnstorableValueError => {
  const problem = findProblem(value, limits.maxDepth)
  if (problem !== undefined) return new UnstorableValueError({ what, ...problem })
  const text = JSON.stringify(value)
  const bytes = utf8Length(text)
  if (bytes > limits.maxPayloadBytes) {
    return new UnstorableValueError({
      what,
      reason: "size",
      path: "$",
      detail: `${bytes} bytes of JSON, over the store's limit of ${limits.maxPayloadBytes} (option maxPayloadBytes)`
    })
  }
  return text
}

/**
 * The typed error behind a `StoreError` that can never succeed on a retry, when there is one: a
 * value or an id the store refused (see `ExecutionLog.makeUnsafe`), or a stored payload that is
 * not JSON. The engine fails the flow with it rather than try again at every lease.
 */
export const refusedValue = (
  error: StoreError
): UnstorableValueError | InvalidIdError | CheckpointDecodeError | undefined =>
  error.cause instanceof UnstorableValueError || error.cause instanceof InvalidIdError ||
    error.cause instanceof CheckpointDecodeError
    ? error.cause
    : undefined

/** A `StoreError` for a value or an id the store refuses before writing anything. */
export const refusal = (operation: string, cause: UnstorableValueError | InvalidIdError): StoreError =>
  new StoreError({ operation, detail: cause.message, cause })

// ---------------------------------------------------------------------------------------------
// Ids, names and keys
// ---------------------------------------------------------------------------------------------

/**
 * The longest id, name or journal key, in UTF-8 bytes. Two of them make a journal entry's primary
 * key (flow id and key), which must stay under PostgreSQL's index row limit (2,704 bytes) with
 * room to spare; a child's id is its parent's id, `/` and the key of the call, so it must fit too.
 */
export const MAX_ID_BYTES = 1024

/** Checks an id, a flow or signal name, or a journal key: what it is is `kind`. */
export const checkId = (kind: InvalidIdError["kind"], value: unknown): InvalidIdError | undefined => {
  const refuse = (detail: string) => new InvalidIdError({ kind, value: preview(value), detail })
  if (typeof value !== "string") return refuse(`it must be a string, not ${value === null ? "null" : typeof value}`)
  if (value.length === 0) return refuse("it must not be empty")
  if (value.includes("\u0000")) return refuse("it contains a NUL character (PostgreSQL text cannot hold it)")
  if (!isWellFormed(value)) {
    return refuse("it contains a lone UTF-16 surrogate (it cannot be stored as UTF-8 and read back the same)")
  }
  const bytes = utf8Length(value)
  if (bytes > MAX_ID_BYTES) return refuse(`it is ${bytes} bytes of UTF-8, over the limit of ${MAX_ID_BYTES}`)
  return undefined
}

/** Whether every surrogate of a string is paired (`String.prototype.isWellFormed`, written out for older targets). */
export const isWellFormed = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0xd800 || unit > 0xdfff) continue
    if (unit >= 0xdc00) return false
    const next = text.charCodeAt(i + 1)
    if (!(next >= 0xdc00 && next <= 0xdfff)) return false
    i++
  }
  return true
}

/** A short, printable rendering of a refused value, for messages (never the whole of a long one). */
export const preview = (value: unknown): string => {
  let text: string
  try {
    text = typeof value === "string" ? JSON.stringify(value) : String(value)
  } catch {
    text = Object.prototype.toString.call(value)
  }
  // JSON.stringify escapes lone surrogates and control characters, so the preview is printable.
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}
