/**
 * `ergon retry`: runs flows that ended in failure again.
 *
 * @since 0.1.0
 */
import * as Client from "../Client.js"
import * as Bulk from "./bulk.js"

/**
 * `ergon retry <id>…`, or `ergon retry --type … --status … --yes`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Bulk.make({
  name: "retry",
  description:
    "Run flows that ended in failure again (stopped by an engine error, cancelled, or completed with a failure): by id, or every flow the filters match (failed unless --status says otherwise) with --yes.",
  done: "retried",
  statuses: ["failed"],
  act: Client.retry
})
