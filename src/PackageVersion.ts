/**
 * The version of this package, generated from `package.json` by `scripts/version-sync.ts`:
 * do not edit. Run `npm run version:sync` after changing the version; `npm run version:check`
 * fails in CI when this file is out of date.
 *
 * @since 0.1.0
 */

/**
 * The version of this package (`0.1.0`), as a literal type: `withVersion(version)` makes a
 * scheduler or worker `Versioned<"0.1.0">`, so a flow pinned to other versions is a
 * compile error until it is reviewed for this one.
 *
 * @since 0.1.0
 * @category Models
 */
export const version = "0.1.0" as const
