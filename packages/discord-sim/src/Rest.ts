/**
 * Discord's REST API under `/api/v10`, as far as a bot like Tally uses it: validated like
 * Discord, rate-limit headers on every response, switchable 429s and 5xx, every call recorded.
 */
import { createHash } from "node:crypto"
import type { IncomingMessage, ServerResponse } from "node:http"
import { memberUpdateEntry, messageEntry } from "./Events"
import type { Gateway } from "./Gateway"
import type { Interactions, ReplyMessage } from "./Interactions"
import { channelJson, guildJson, memberJson, messageJson, roleJson, userJson } from "./Payloads"
import {
  basePermissions,
  type Channel,
  ChannelType,
  channelPermissions,
  type Guild,
  has,
  highestRolePosition,
  isThreadType,
  Permission,
  type World,
} from "./World"

export interface RestCall {
  readonly at: number
  readonly method: string
  /** decoded path after `/api/v10` */
  readonly path: string
  /** the route template, e.g. `POST /channels/:channel/messages` */
  readonly route: string
  readonly body: unknown
  readonly status: number
  readonly response: unknown
}

export interface RateLimitFault {
  /** a route template (`POST /channels/:channel/messages`); all routes when absent */
  readonly route?: string | undefined
  readonly global?: boolean | undefined
  readonly retryAfterSeconds: number
  /** how many requests get the 429; default 1 */
  readonly count?: number | undefined
}

export interface ServerErrorFault {
  readonly route?: string | undefined
  readonly status?: number | undefined
  readonly count?: number | undefined
}

export interface RestOptions {
  readonly world: World
  readonly gateway: Gateway
  readonly interactions: Interactions
  readonly token: string | null
  readonly newId: (atMillis?: number) => string
  readonly gatewayInfo: () => unknown
  /** a bucket's size and window (Discord varies; default 50 per second) */
  readonly bucket: { readonly limit: number; readonly windowMillis: number }
  /** requests per second over all authenticated routes before a global 429 (default 50) */
  readonly globalPerSecond: number
  /** time a bot has to send the initial interaction response (Discord: 3 s) */
  readonly interactionCallbackMillis: number
}

interface Reply {
  readonly status: number
  readonly body?: unknown
}

interface Request {
  readonly params: Record<string, string>
  readonly body: unknown
  readonly query: URLSearchParams
  readonly authorized: boolean
}

type Handler = (request: Request) => Reply

const error = (status: number, code: number, message: string, errors?: unknown): Reply => ({
  status,
  body: errors === undefined ? { message, code } : { message, code, errors },
})

const unknown = {
  channel: () => error(404, 10003, "Unknown Channel"),
  guild: () => error(404, 10004, "Unknown Guild"),
  member: () => error(404, 10007, "Unknown Member"),
  message: () => error(404, 10008, "Unknown Message"),
  role: () => error(404, 10011, "Unknown Role"),
  user: () => error(404, 10013, "Unknown User"),
  webhook: () => error(404, 10015, "Unknown Webhook"),
  interaction: () => error(404, 10062, "Unknown interaction"),
}
const missingAccess = () => error(403, 50001, "Missing Access")
const missingPermissions = () => error(403, 50013, "Missing Permissions")

const formError = (field: string, code: string, message: string) =>
  error(400, 50035, "Invalid Form Body", { [field]: { _errors: [{ code, message }] } })

/** Validates a message body like Discord; returns the error reply or null. */
const validateMessageBody = (body: unknown): Reply | null => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return error(400, 50109, "The request body contains invalid JSON.")
  }
  const { content, embeds, components, sticker_ids, poll } = body as Record<string, unknown>
  if (content !== undefined && content !== null && typeof content !== "string") {
    return formError("content", "BASE_TYPE_STRING", "Must be a string.")
  }
  if (typeof content === "string" && [...content].length > 2000) {
    return formError("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
  }
  if (embeds !== undefined && embeds !== null) {
    if (!Array.isArray(embeds)) return formError("embeds", "BASE_TYPE_LIST", "Must be a list.")
    if (embeds.length > 10) {
      return formError("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    }
  }
  const hasContent = typeof content === "string" && content.length > 0
  const hasOther =
    (Array.isArray(embeds) && embeds.length > 0) ||
    (Array.isArray(components) && components.length > 0) ||
    (Array.isArray(sticker_ids) && sticker_ids.length > 0) ||
    (poll !== undefined && poll !== null)
  if (!hasContent && !hasOther) return error(400, 50006, "Cannot send an empty message")
  return null
}

const replyMessage = (id: string, body: Record<string, unknown>): ReplyMessage => ({
  id,
  content: typeof body.content === "string" ? body.content : "",
  embeds: Array.isArray(body.embeds) ? body.embeds : [],
  flags: typeof body.flags === "number" ? body.flags : 0,
  components: Array.isArray(body.components) ? body.components : [],
  ...(body.allowed_mentions !== undefined ? { allowed_mentions: body.allowed_mentions } : {}),
})

const COMMAND_NAME = /^[-_\p{L}\p{N}]{1,32}$/u

const validateCommands = (body: unknown): Reply | null => {
  if (!Array.isArray(body)) return formError("_root", "BASE_TYPE_LIST", "Must be a list.")
  if (body.length > 100) {
    return formError("_root", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
  }
  const names = new Set<string>()
  for (const [index, command] of body.entries()) {
    const { name, description, type, options } = (command ?? {}) as Record<string, unknown>
    const field = `${index}.name`
    if (typeof name !== "string" || !COMMAND_NAME.test(name) || name !== name.toLowerCase()) {
      return formError(field, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    }
    const key = `${type ?? 1}:${name}`
    if (names.has(key)) {
      return formError(
        field,
        "APPLICATION_COMMANDS_DUPLICATE_NAME",
        "Application command names must be unique",
      )
    }
    names.add(key)
    if ((type ?? 1) === 1) {
      if (typeof description !== "string" || description.length < 1 || description.length > 100) {
        return formError(
          `${index}.description`,
          "BASE_TYPE_BAD_LENGTH",
          "Must be between 1 and 100 in length.",
        )
      }
    }
    if (options !== undefined && (!Array.isArray(options) || options.length > 25)) {
      return formError(`${index}.options`, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    }
  }
  return null
}

const parseBody = (raw: Buffer, contentType: string | undefined): unknown => {
  if (raw.length === 0) return undefined
  const text = raw.toString("utf8")
  if (contentType?.startsWith("multipart/form-data")) {
    const match = /name="payload_json"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([\s\S]*?)\r\n--/.exec(text)
    return match?.[1] !== undefined ? JSON.parse(match[1]) : {}
  }
  return JSON.parse(text)
}

export const makeRest = (options: RestOptions) => {
  const { world, gateway, interactions, newId } = options
  const calls: Array<RestCall> = []
  const commands = new Map<string, Array<Record<string, unknown>>>()
  const commandIds = new Map<string, string>()
  const dmChannels = new Map<string, Channel>()
  const buckets = new Map<string, { remaining: number; resetAt: number }>()
  const rateLimitFaults: Array<RateLimitFault & { left: number }> = []
  const serverErrorFaults: Array<ServerErrorFault & { left: number }> = []
  let globalWindow = { start: 0, count: 0 }

  const botMember = (guild: Guild) => guild.members.get(world.bot.id)

  const commandId = (scope: string, name: string) => {
    const key = `${scope}:${name}`
    let id = commandIds.get(key)
    if (id === undefined) {
      id = newId()
      commandIds.set(key, id)
    }
    return id
  }

  /** The id Discord knows a guild command by (guild first, then global). */
  const commandIdFor = (guildId: string | null, name: string) =>
    commandIds.get(`${guildId}:${name}`) ?? commandIds.get(`global:${name}`) ?? newId()

  const postMessage = (channel: Channel, body: Record<string, unknown>): Reply => {
    const id = newId()
    const guild = channel.guildId !== null ? world.guilds.get(channel.guildId) : undefined
    const content = typeof body.content === "string" ? body.content : ""
    const reference = body.message_reference as { message_id?: unknown } | undefined
    const referenced = typeof reference?.message_id === "string" ? reference.message_id : undefined
    const entry = messageEntry(world, {
      id,
      guild: guild ?? null,
      channelId: channel.id,
      authorId: world.bot.id,
      bot: true,
      messageType: referenced !== undefined ? 19 : 0,
      content,
      mentionIds: [],
      replyToMessageId: referenced,
    })
    gateway.appendForGuild(channel.guildId, entry)
    const message = messageJson(
      world,
      {
        id,
        channel,
        author: world.bot,
        member: undefined,
        type: referenced !== undefined ? 19 : 0,
        content,
        mentions: [],
        timestamp: new Date().toISOString(),
        referencedMessageId: referenced,
        embeds: Array.isArray(body.embeds) ? body.embeds : [],
      },
      false,
    )
    return { status: 200, body: message }
  }

  const roleChange = (params: Record<string, string>, add: boolean): Reply => {
    const guild = world.guilds.get(params.guild ?? "")
    if (!guild) return unknown.guild()
    const member = guild.members.get(params.user ?? "")
    if (!member) return unknown.member()
    const role = guild.roles.get(params.role ?? "")
    if (!role || role.id === guild.id) return unknown.role()
    const bot = botMember(guild)
    if (!bot || !has(basePermissions(guild, bot), Permission.ManageRoles)) {
      return missingPermissions()
    }
    if (role.managed || role.position >= highestRolePosition(guild, bot)) {
      return missingPermissions()
    }
    const hadRole = member.roles.includes(role.id)
    if (add && !hadRole) member.roles = [...member.roles, role.id]
    if (!add && hadRole) member.roles = member.roles.filter((id) => id !== role.id)
    if (add !== hadRole) gateway.appendForGuild(guild.id, memberUpdateEntry(world, guild, member))
    return { status: 204 }
  }

  // TODO: interaction tokens never expire (Discord: 15 minutes) — remove when a test needs it
  const interactionFromWebhook = (params: Record<string, string>) => {
    if (params.application !== world.bot.id) return undefined
    return interactions.byToken(params.token ?? "")
  }

  const routes: Array<
    readonly [method: string, template: string, handler: Handler, auth: boolean]
  > = [
    [
      "GET",
      "/gateway",
      () => ({ status: 200, body: { url: (options.gatewayInfo() as { url: string }).url } }),
      false,
    ],
    ["GET", "/gateway/bot", () => ({ status: 200, body: options.gatewayInfo() }), true],
    ["GET", "/users/@me", () => ({ status: 200, body: userJson(world.bot) }), true],
    [
      "GET",
      "/applications/@me",
      () => ({
        status: 200,
        body: { id: world.bot.id, name: world.bot.username, bot: userJson(world.bot), flags: 0 },
      }),
      true,
    ],
    [
      "POST",
      "/interactions/:interaction/:token/callback",
      ({ params, body, query }) => {
        const record = interactions.get(params.interaction ?? "")
        if (!record || record.token !== params.token) return unknown.interaction()
        const late =
          record.deliveredAt !== null &&
          Date.now() - record.deliveredAt > options.interactionCallbackMillis
        if (late && record.state === "pending") return unknown.interaction()
        if (record.state !== "pending") {
          return error(400, 40060, "Interaction has already been acknowledged.")
        }
        const { type, data } = (body ?? {}) as { type?: unknown; data?: unknown }
        if (type !== 4 && type !== 5 && type !== 9) {
          return formError("type", "BASE_TYPE_CHOICES", `Value must be one of {4, 5, 9}.`)
        }
        if (type === 4) {
          const invalid = validateMessageBody(data ?? {})
          if (invalid) return invalid
          record.state = "replied"
          record.original = replyMessage(newId(), data as Record<string, unknown>)
        } else if (type === 5) {
          record.state = "deferred"
          record.original = replyMessage(newId(), { content: "" })
        } else {
          record.state = "replied"
        }
        interactions.notify(record)
        if (query.get("with_response") === "true") {
          return {
            status: 200,
            body: {
              interaction: { id: record.id, type: 2, response_message_loading: type === 5 },
              resource: { type, ...(record.original ? { message: record.original } : {}) },
            },
          }
        }
        return { status: 204 }
      },
      false,
    ],
    [
      "POST",
      "/webhooks/:application/:token",
      ({ params, body }) => {
        const record = interactionFromWebhook(params)
        if (!record || record.state === "pending") return unknown.webhook()
        const invalid = validateMessageBody(body)
        if (invalid) return invalid
        const message = replyMessage(newId(), body as Record<string, unknown>)
        record.followups.push(message)
        return { status: 200, body: { ...message, channel_id: record.channelId, type: 0 } }
      },
      false,
    ],
    [
      "GET",
      "/webhooks/:application/:token/messages/:message",
      ({ params }) => {
        const record = interactionFromWebhook(params)
        if (!record || record.state === "pending") return unknown.webhook()
        const message =
          params.message === "@original"
            ? record.original
            : record.followups.find((followup) => followup.id === params.message)
        if (!message || record.state === "deleted") return unknown.message()
        return { status: 200, body: { ...message, channel_id: record.channelId } }
      },
      false,
    ],
    [
      "PATCH",
      "/webhooks/:application/:token/messages/:message",
      ({ params, body }) => {
        const record = interactionFromWebhook(params)
        if (!record || record.state === "pending") return unknown.webhook()
        if (typeof body !== "object" || body === null) {
          return error(400, 50109, "The request body contains invalid JSON.")
        }
        const fields = body as Record<string, unknown>
        if (typeof fields.content === "string" && [...fields.content].length > 2000) {
          return formError("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        }
        if (params.message === "@original") {
          if (!record.original || record.state === "deleted") return unknown.message()
          const merged = { ...record.original, ...fields }
          record.original = replyMessage(record.original.id, merged)
          record.originalEdited = true
          interactions.notify(record)
          return { status: 200, body: { ...record.original, channel_id: record.channelId } }
        }
        const index = record.followups.findIndex((followup) => followup.id === params.message)
        const existing = record.followups[index]
        if (!existing) return unknown.message()
        record.followups[index] = replyMessage(existing.id, { ...existing, ...fields })
        return { status: 200, body: record.followups[index] }
      },
      false,
    ],
    [
      "DELETE",
      "/webhooks/:application/:token/messages/:message",
      ({ params }) => {
        const record = interactionFromWebhook(params)
        if (!record || record.state === "pending") return unknown.webhook()
        if (params.message === "@original") {
          if (!record.original || record.state === "deleted") return unknown.message()
          record.state = "deleted"
          return { status: 204 }
        }
        const index = record.followups.findIndex((followup) => followup.id === params.message)
        if (index < 0) return unknown.message()
        record.followups.splice(index, 1)
        return { status: 204 }
      },
      false,
    ],
    [
      "GET",
      "/channels/:channel",
      ({ params }) => {
        const channel =
          world.channels.get(params.channel ?? "") ?? dmChannels.get(params.channel ?? "")
        if (!channel) return unknown.channel()
        if (channel.type === ChannelType.DM) return { status: 200, body: dmJson(channel) }
        const guild = world.guilds.get(channel.guildId ?? "")
        const bot = guild && botMember(guild)
        if (!guild || !bot) return unknown.channel()
        if (!has(channelPermissions(guild, bot, channel), Permission.ViewChannel)) {
          return missingAccess()
        }
        return { status: 200, body: channelJson(channel, true) }
      },
      true,
    ],
    [
      "POST",
      "/channels/:channel/messages",
      ({ params, body }) => {
        const dm = dmChannels.get(params.channel ?? "")
        const channel = dm ?? world.channels.get(params.channel ?? "")
        if (!channel) return unknown.channel()
        if (dm) {
          const recipient = world.users.get(dm.recipientId ?? "")
          if (!recipient || recipient.bot) {
            return error(403, 50007, "Cannot send messages to this user")
          }
        } else {
          const guild = world.guilds.get(channel.guildId ?? "")
          const bot = guild && botMember(guild)
          if (!guild || !bot) return unknown.channel()
          const permissions = channelPermissions(guild, bot, channel)
          if (!has(permissions, Permission.ViewChannel)) return missingAccess()
          if (
            channel.type === ChannelType.GuildCategory ||
            channel.type === ChannelType.GuildForum
          ) {
            return error(400, 50008, "Cannot send messages in a non-text channel")
          }
          const needed = isThreadType(channel.type)
            ? Permission.SendMessagesInThreads
            : Permission.SendMessages
          if (!has(permissions, needed)) return missingPermissions()
        }
        const invalid = validateMessageBody(body)
        if (invalid) return invalid
        return postMessage(channel, body as Record<string, unknown>)
      },
      true,
    ],
    [
      "POST",
      "/users/@me/channels",
      ({ body }) => {
        const recipientId = (body as { recipient_id?: unknown } | undefined)?.recipient_id
        if (typeof recipientId !== "string") {
          return formError("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")
        }
        const recipient = world.users.get(recipientId)
        if (!recipient) return unknown.user()
        let channel = [...dmChannels.values()].find((dm) => dm.recipientId === recipientId)
        if (!channel) {
          channel = {
            id: newId(),
            guildId: null,
            type: ChannelType.DM,
            name: "",
            parentId: null,
            position: 0,
            overwrites: [],
            recipientId,
          }
          dmChannels.set(channel.id, channel)
          world.channels.set(channel.id, channel)
        }
        return { status: 200, body: dmJson(channel) }
      },
      true,
    ],
    [
      "GET",
      "/guilds/:guild",
      ({ params }) => {
        const guild = world.guilds.get(params.guild ?? "")
        return guild ? { status: 200, body: guildJson(guild) } : unknown.guild()
      },
      true,
    ],
    [
      "GET",
      "/guilds/:guild/roles",
      ({ params }) => {
        const guild = world.guilds.get(params.guild ?? "")
        return guild
          ? { status: 200, body: [...guild.roles.values()].map(roleJson) }
          : unknown.guild()
      },
      true,
    ],
    [
      "GET",
      "/guilds/:guild/channels",
      ({ params }) => {
        const guild = world.guilds.get(params.guild ?? "")
        if (!guild) return unknown.guild()
        const channels = [...guild.channels.values()].filter(
          (channel) => !isThreadType(channel.type),
        )
        return { status: 200, body: channels.map((channel) => channelJson(channel, true)) }
      },
      true,
    ],
    [
      "GET",
      "/guilds/:guild/members/:user",
      ({ params }) => {
        const guild = world.guilds.get(params.guild ?? "")
        if (!guild) return unknown.guild()
        const member = guild.members.get(params.user ?? "")
        if (!member) return unknown.member()
        return { status: 200, body: memberJson(world, member, true) }
      },
      true,
    ],
    [
      "PUT",
      "/guilds/:guild/members/:user/roles/:role",
      ({ params }) => roleChange(params, true),
      true,
    ],
    [
      "DELETE",
      "/guilds/:guild/members/:user/roles/:role",
      ({ params }) => roleChange(params, false),
      true,
    ],
    [
      "PUT",
      "/applications/:application/commands",
      ({ params, body }) => overwriteCommands(params.application, "global", body),
      true,
    ],
    [
      "GET",
      "/applications/:application/commands",
      ({ params }) =>
        params.application !== world.bot.id
          ? missingAccess()
          : { status: 200, body: commands.get("global") ?? [] },
      true,
    ],
    [
      "PUT",
      "/applications/:application/guilds/:guild/commands",
      ({ params, body }) => {
        if (!world.guilds.has(params.guild ?? "")) return unknown.guild()
        return overwriteCommands(params.application, params.guild ?? "", body)
      },
      true,
    ],
    [
      "GET",
      "/applications/:application/guilds/:guild/commands",
      ({ params }) => {
        if (params.application !== world.bot.id) return missingAccess()
        if (!world.guilds.has(params.guild ?? "")) return unknown.guild()
        return { status: 200, body: commands.get(params.guild ?? "") ?? [] }
      },
      true,
    ],
  ]

  const dmJson = (channel: Channel) => {
    const recipient = world.users.get(channel.recipientId ?? "")
    return {
      id: channel.id,
      type: ChannelType.DM,
      last_message_id: null,
      flags: 0,
      recipients: recipient ? [userJson(recipient)] : [],
    }
  }

  const overwriteCommands = (
    application: string | undefined,
    scope: string,
    body: unknown,
  ): Reply => {
    if (application !== world.bot.id) return missingAccess()
    const invalid = validateCommands(body)
    if (invalid) return invalid
    const saved = (body as Array<Record<string, unknown>>).map((command) => ({
      ...command,
      id: commandId(scope, command.name as string),
      application_id: world.bot.id,
      version: commandId(scope, command.name as string),
      type: command.type ?? 1,
      default_member_permissions: command.default_member_permissions ?? null,
      nsfw: false,
      ...(scope !== "global" ? { guild_id: scope } : {}),
    }))
    commands.set(scope, saved)
    return { status: 200, body: saved }
  }

  const compiled = routes.map(([method, template, handler, auth]) => {
    const segments = template.split("/").slice(1)
    const routeKey = `${method} ${template}`
    return { method, template, segments, handler, auth, routeKey }
  })

  const match = (method: string, path: string) => {
    const parts = path.split("/").slice(1)
    for (const route of compiled) {
      if (route.method !== method || route.segments.length !== parts.length) continue
      const params: Record<string, string> = {}
      let ok = true
      for (let index = 0; index < parts.length; index++) {
        const segment = route.segments[index] as string
        const part = parts[index] as string
        if (segment.startsWith(":")) params[segment.slice(1)] = part
        else if (segment !== part) {
          ok = false
          break
        }
      }
      if (ok) return { route, params }
    }
    return null
  }

  /** The major parameter a bucket is split by (Discord: channel, guild, or webhook + token). */
  const majorOf = (params: Record<string, string>) =>
    params.channel ??
    params.guild ??
    (params.token !== undefined ? `${params.application}:${params.token}` : "")

  const bucketHash = (routeKey: string) =>
    createHash("sha1").update(routeKey).digest("hex").slice(0, 16)

  const takeFault = <A extends { route?: string | undefined; left: number }>(
    list: Array<A>,
    routeKey: string,
  ): A | undefined => {
    const fault = list.find(
      (candidate) =>
        candidate.left > 0 && (candidate.route === undefined || candidate.route === routeKey),
    )
    if (fault) fault.left--
    return fault
  }

  const handle = (
    request: IncomingMessage,
    response: ServerResponse,
    rawPath: string,
    raw: Buffer,
  ) => {
    const method = request.method ?? "GET"
    const path = decodeURIComponent(rawPath.split("?")[0] ?? "")
    const query = new URLSearchParams(rawPath.split("?")[1] ?? "")
    const headers: Record<string, string> = { "Content-Type": "application/json" }
    let body: unknown
    let reply: Reply
    let routeKey = `${method} ${path}`
    const matched = match(method, path)
    try {
      body = parseBody(raw, request.headers["content-type"])
    } catch {
      body = undefined
      reply = error(400, 50109, "The request body contains invalid JSON.")
      return finish(reply)
    }
    if (!matched) {
      reply = { status: 404, body: { message: "404: Not Found", code: 0 } }
      return finish(reply)
    }
    routeKey = matched.route.routeKey
    const authorization = request.headers.authorization
    const authorized =
      typeof authorization === "string" &&
      authorization.startsWith("Bot ") &&
      (options.token === null || authorization.slice(4) === options.token)
    if (matched.route.auth && !authorized) {
      return finish({ status: 401, body: { message: "401: Unauthorized", code: 0 } })
    }

    const now = Date.now()
    const forcedError = takeFault(serverErrorFaults, routeKey)
    if (forcedError) {
      return finish({
        status: forcedError.status ?? 500,
        body: { message: "500: Internal Server Error", code: 0 },
      })
    }
    const forcedLimit = takeFault(rateLimitFaults, routeKey)
    if (forcedLimit) {
      const retryAfter = forcedLimit.retryAfterSeconds
      headers["Retry-After"] = String(retryAfter)
      headers["X-RateLimit-Scope"] = forcedLimit.global ? "global" : "user"
      if (forcedLimit.global) headers["X-RateLimit-Global"] = "true"
      else bucketHeaders(routeKey, majorOf(matched.params), now, 0, retryAfter * 1000)
      return finish({
        status: 429,
        body: {
          message: "You are being rate limited.",
          retry_after: retryAfter,
          global: forcedLimit.global ?? false,
          code: 0,
        },
      })
    }
    if (matched.route.auth) {
      if (now - globalWindow.start >= 1000) globalWindow = { start: now, count: 0 }
      if (++globalWindow.count > options.globalPerSecond) {
        const retryAfter = (globalWindow.start + 1000 - now) / 1000
        headers["Retry-After"] = retryAfter.toFixed(3)
        headers["X-RateLimit-Global"] = "true"
        headers["X-RateLimit-Scope"] = "global"
        return finish({
          status: 429,
          body: {
            message: "You are being rate limited.",
            retry_after: retryAfter,
            global: true,
            code: 0,
          },
        })
      }
    }
    const bucketKey = `${routeKey}|${majorOf(matched.params)}`
    let bucket = buckets.get(bucketKey)
    if (!bucket || bucket.resetAt <= now) {
      bucket = { remaining: options.bucket.limit, resetAt: now + options.bucket.windowMillis }
      buckets.set(bucketKey, bucket)
    }
    if (bucket.remaining <= 0) {
      const retryAfter = (bucket.resetAt - now) / 1000
      headers["Retry-After"] = retryAfter.toFixed(3)
      headers["X-RateLimit-Scope"] = "user"
      bucketHeaders(routeKey, majorOf(matched.params), now, 0, bucket.resetAt - now)
      return finish({
        status: 429,
        body: {
          message: "You are being rate limited.",
          retry_after: retryAfter,
          global: false,
          code: 0,
        },
      })
    }
    bucket.remaining--
    bucketHeaders(routeKey, majorOf(matched.params), now, bucket.remaining, bucket.resetAt - now)
    try {
      reply = matched.route.handler({ params: matched.params, body, query, authorized })
    } catch (cause) {
      reply = { status: 500, body: { message: `500: ${String(cause)}`, code: 0 } }
    }
    return finish(reply)

    function bucketHeaders(
      key: string,
      _major: string,
      at: number,
      remaining: number,
      resetAfterMillis: number,
    ) {
      headers["X-RateLimit-Limit"] = String(options.bucket.limit)
      headers["X-RateLimit-Remaining"] = String(remaining)
      headers["X-RateLimit-Reset"] = ((at + resetAfterMillis) / 1000).toFixed(3)
      headers["X-RateLimit-Reset-After"] = (resetAfterMillis / 1000).toFixed(3)
      headers["X-RateLimit-Bucket"] = bucketHash(key)
    }

    function finish(result: Reply) {
      calls.push({
        at: Date.now(),
        method,
        path,
        route: routeKey,
        body,
        status: result.status,
        response: result.body ?? null,
      })
      const text = result.body === undefined ? "" : JSON.stringify(result.body)
      if (result.status === 204) delete headers["Content-Type"]
      response.writeHead(result.status, headers)
      response.end(text)
    }
  }

  return {
    handle,
    calls: () => calls as ReadonlyArray<RestCall>,
    commandIdFor,
    rateLimit: (fault: RateLimitFault) => {
      rateLimitFaults.push({ ...fault, left: fault.count ?? 1 })
    },
    serverError: (fault: ServerErrorFault) => {
      serverErrorFaults.push({ ...fault, left: fault.count ?? 1 })
    },
    clearFaults: () => {
      rateLimitFaults.length = 0
      serverErrorFaults.length = 0
    },
  }
}

export type Rest = ReturnType<typeof makeRest>
