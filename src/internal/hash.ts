import { createHash } from "node:crypto"

/**
 * Serialises a value to JSON with object keys sorted, so equal values give equal text whatever
 * order their keys were written in. Dates become ISO strings, bigints decimal strings, Maps and
 * Sets arrays; functions and symbols are dropped as JSON drops them.
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(normalize(value, new Set())) ?? "null"

const normalize = (value: unknown, seen: Set<unknown>): unknown => {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return `${value}n`
    if (typeof value === "number" && !Number.isFinite(value)) return String(value)
    return value
  }
  if (seen.has(value)) return "[Circular]"
  seen.add(value)
  try {
    if (value instanceof Date) return value.toISOString()
    if (Array.isArray(value)) return value.map((item) => normalize(item, seen))
    if (value instanceof Map) return Array.from(value.entries()).map((entry) => normalize(entry, seen))
    if (value instanceof Set) return Array.from(value.values()).map((item) => normalize(item, seen))
    if (value instanceof Uint8Array) return Buffer.from(value).toString("base64")
    // No prototype: a `__proto__` key is then an own key like any other (on a plain object the
    // assignment would set the prototype, and the key would be left out of the hash).
    const out: Record<string, unknown> = Object.create(null)
    for (const key of Object.keys(value).sort()) {
      out[key] = normalize((value as Record<string, unknown>)[key], seen)
    }
    return out
  } finally {
    seen.delete(value)
  }
}

/** A short, stable hash (64 bits of SHA-256, hex) of a value's canonical JSON. */
export const hashValue = (value: unknown): string =>
  createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, 16)

/** `hashValue` of a value whose canonical JSON is already at hand. */
export const hashCanonical = (canonical: string): string =>
  createHash("sha256").update(canonical).digest("hex").slice(0, 16)
