/**
 * The version of this package, generated from `package.json` by `ergon version sync`.
 * Do not edit: run `npx ergon version sync` after changing the version; `npx ergon version check`
 * fails in CI when this file is out of date.
 */

/**
 * The version of this package (`0.1.0`), as a literal type: `withVersion(version)` makes a
 * scheduler or worker `Versioned<"0.1.0">`, so a flow pinned to other versions is a compile
 * error until it is reviewed for this one.
 */
export const version = "0.1.0" as const
