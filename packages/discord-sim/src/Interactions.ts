/**
 * Slash-command interactions the simulator sent, and what the bot answered: the initial callback
 * (immediate or deferred), edits of the original response, follow-ups.
 */
import { randomBytes } from "node:crypto"

export interface InteractionReply {
  /** "immediate": a type 4 callback; "deferred": a type 5 callback, then the original edited */
  readonly mode: "immediate" | "deferred"
  readonly interactionId: string
  /** the final message (the callback's data, or the edited original) */
  readonly message: ReplyMessage
  readonly followups: ReadonlyArray<ReplyMessage>
}

export interface ReplyMessage {
  readonly id: string
  readonly content: string
  readonly embeds: ReadonlyArray<unknown>
  readonly flags: number
  readonly components: ReadonlyArray<unknown>
  readonly allowed_mentions?: unknown
}

export interface InteractionRecord {
  readonly id: string
  readonly token: string
  readonly guildId: string | null
  readonly channelId: string
  readonly userId: string
  readonly commandName: string
  deliveredAt: number | null
  state: "pending" | "replied" | "deferred" | "deleted"
  original: ReplyMessage | null
  originalEdited: boolean
  readonly followups: Array<ReplyMessage>
  readonly waiters: Array<(reply: InteractionReply) => void>
}

export const makeInteractions = () => {
  const byId = new Map<string, InteractionRecord>()
  const byToken = new Map<string, InteractionRecord>()

  const create = (fields: {
    id: string
    guildId: string | null
    channelId: string
    userId: string
    commandName: string
  }): InteractionRecord => {
    const record: InteractionRecord = {
      ...fields,
      token: `sim_${randomBytes(24).toString("base64url")}`,
      deliveredAt: null,
      state: "pending",
      original: null,
      originalEdited: false,
      followups: [],
      waiters: [],
    }
    byId.set(record.id, record)
    byToken.set(record.token, record)
    return record
  }

  /** The reply is final once it was immediate, or once a deferred original was edited. */
  const finalReply = (record: InteractionRecord): InteractionReply | null => {
    if (record.original === null) return null
    if (record.state === "replied" && !record.originalEdited) {
      return {
        mode: "immediate",
        interactionId: record.id,
        message: record.original,
        followups: record.followups,
      }
    }
    if (record.originalEdited) {
      return {
        mode: record.state === "deferred" ? "deferred" : "immediate",
        interactionId: record.id,
        message: record.original,
        followups: record.followups,
      }
    }
    return null
  }

  const notify = (record: InteractionRecord) => {
    const reply = finalReply(record)
    if (reply === null) return
    for (const resolve of record.waiters.splice(0)) resolve(reply)
  }

  return {
    create,
    get: (id: string) => byId.get(id),
    byToken: (token: string) => byToken.get(token),
    notify,
    finalReply,
    all: () => [...byId.values()],
  }
}

export type Interactions = ReturnType<typeof makeInteractions>
