/**
 * `ergon cancel`: cancels flows that have not ended, and their children.
 *
 * @since 0.1.0
 */
import * as Client from "../Client.js"
import * as Bulk from "./bulk.js"

/**
 * `ergon cancel <id>…`, or `ergon cancel --type … --status … --yes`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const command = Bulk.make({
  name: "cancel",
  description:
    "Cancel flows that have not ended, and their children: by id, or every flow the filters match (pending, running, suspended or failed unless --status says otherwise) with --yes.",
  done: "cancelled",
  statuses: ["pending", "running", "suspended", "failed"],
  act: Client.cancel
})
