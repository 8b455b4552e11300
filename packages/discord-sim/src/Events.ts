/**
 * Events the simulator can send: each changes the world first, then becomes a stream entry on
 * the guild's Discord shard (see Gateway). The same union is accepted in-process and as JSON
 * over `POST /_sim/inject`.
 */
import { fromTimestamp, timestampMillis, unsafeMake } from "@tally/domain/Snowflake"
import { Data } from "effect"
import type { StreamEntry } from "./Gateway"
import { Intent } from "./Gateway"
import {
  channelJson,
  MessageEventParts,
  memberJson,
  roleJson,
  userJson,
  voiceStateJson,
} from "./Payloads"
import {
  type ChannelSpec,
  channelPermissions,
  type Guild,
  type Member,
  type RoleSpec,
  removeChannel,
  upsertChannel,
  upsertMember,
  upsertRole,
  upsertUser,
  type World,
} from "./World"

export type SimEvent =
  | {
      readonly type: "message"
      readonly guildId: string
      readonly channelId: string
      readonly authorId: string
      readonly bot?: boolean | undefined
      /** Discord message type; default 0 */
      readonly messageType?: number | undefined
      readonly content?: string | undefined
      /** message id; default a snowflake of `atMillis` (default now) */
      readonly id?: string | undefined
      readonly atMillis?: number | undefined
      readonly mentionIds?: ReadonlyArray<string> | undefined
      readonly replyToMessageId?: string | undefined
    }
  | { readonly type: "threadCreate"; readonly guildId: string; readonly thread: ChannelSpec }
  | {
      readonly type: "voiceState"
      readonly guildId: string
      readonly userId: string
      /** null: left voice */
      readonly channelId: string | null
      readonly selfMute?: boolean | undefined
      readonly selfDeaf?: boolean | undefined
    }
  | {
      readonly type: "memberAdd"
      readonly guildId: string
      readonly userId: string
      readonly bot?: boolean | undefined
      readonly username?: string | undefined
      readonly roles?: ReadonlyArray<string> | undefined
    }
  | {
      readonly type: "memberUpdate"
      readonly guildId: string
      readonly userId: string
      readonly roles?: ReadonlyArray<string> | undefined
      readonly nick?: string | null | undefined
    }
  | { readonly type: "memberRemove"; readonly guildId: string; readonly userId: string }
  | {
      readonly type: "reactionAdd"
      readonly guildId: string
      readonly channelId: string
      readonly messageId: string
      readonly userId: string
      readonly emoji: { readonly id: string | null; readonly name: string }
      /** default: the author of a message injected or sent over REST (replayed ones: give it) */
      readonly messageAuthorId?: string | undefined
    }
  | { readonly type: "channelCreate"; readonly guildId: string; readonly channel: ChannelSpec }
  | { readonly type: "channelUpdate"; readonly guildId: string; readonly channel: ChannelSpec }
  | { readonly type: "channelDelete"; readonly guildId: string; readonly channelId: string }
  | { readonly type: "roleCreate"; readonly guildId: string; readonly role: RoleSpec }
  | { readonly type: "roleUpdate"; readonly guildId: string; readonly role: RoleSpec }
  | { readonly type: "roleDelete"; readonly guildId: string; readonly roleId: string }
  | { readonly type: "guildDelete"; readonly guildId: string; readonly unavailable?: boolean }
  | {
      /** any dispatch, sent as given to the shard of `guildId` (shard 0 when null) */
      readonly type: "raw"
      readonly guildId: string | null
      readonly event: string
      readonly data: unknown
      readonly intent?: number | undefined
    }

export class SimEventRejected extends Data.TaggedError("SimEventRejected")<{
  readonly reason: string
}> {}

/** Snowflakes for things the simulator creates now (REST messages, interactions, DMs). */
export const makeIdSource = () => {
  let lastMillis = 0
  let increment = 0
  return (atMillis: number = Date.now()): string => {
    if (atMillis === lastMillis) increment++
    else {
      lastMillis = atMillis
      increment = 0
    }
    return fromTimestamp(atMillis, (1 << 17) | increment)
  }
}

const requireGuild = (world: World, guildId: string): Guild => {
  const guild = world.guilds.get(guildId)
  if (!guild) throw new SimEventRejected({ reason: `unknown guild ${guildId}` })
  return guild
}

const json = (value: unknown) => JSON.stringify(value)

const REMEMBERED_AUTHORS = 100_000

/**
 * Remembers who wrote a message, for `message_author_id` on reactions; the most recent
 * messages only, so a long replay does not grow a map per message.
 */
const rememberAuthor = (world: World, messageId: string, authorId: string) => {
  if (world.messageAuthors.size >= REMEMBERED_AUTHORS) world.messageAuthors.clear()
  world.messageAuthors.set(messageId, authorId)
}

/** A MESSAGE_CREATE entry; its content is blanked for clients without MESSAGE_CONTENT. */
export const messageEntry = (
  world: World,
  fields: {
    id: string
    guild: Guild | null
    channelId: string
    authorId: string
    bot: boolean
    messageType: number
    content: string
    mentionIds: ReadonlyArray<string>
    replyToMessageId?: string | undefined
    onFirstSend?: (() => void) | undefined
    /** the message's time, when the caller already has it (else read from the id) */
    atMillis?: number | undefined
    /** remember its author for reactions (default true; replay skips it: its authors are known) */
    rememberAuthor?: boolean | undefined
  },
): StreamEntry => {
  const channel = world.channels.get(fields.channelId)
  if (!channel) throw new SimEventRejected({ reason: `unknown channel ${fields.channelId}` })
  const author = upsertUser(world, fields.authorId, fields.bot)
  let member: Member | undefined
  if (fields.guild) {
    member =
      fields.guild.members.get(author.id) ??
      upsertMember(world, fields.guild, { userId: author.id, bot: fields.bot }, Date.now())
  }
  const mentions = fields.mentionIds.map((id) => upsertUser(world, id, false))
  if (fields.rememberAuthor !== false) rememberAuthor(world, fields.id, author.id)
  const parts = new MessageEventParts(
    world,
    {
      id: fields.id,
      channel,
      author,
      member,
      type: fields.messageType,
      mentions,
      referencedMessageId: fields.replyToMessageId,
    },
    fields.atMillis ?? timestampMillis(unsafeMake(fields.id)),
    fields.content,
  )
  const content = fields.content
  // Discord keeps content for the bot's own messages and messages that mention it
  const keepsContent = author.id === world.bot.id || fields.mentionIds.includes(world.bot.id)
  // built when sent, and only the variant a session gets (`blanked` is the same object)
  return {
    event: "MESSAGE_CREATE",
    data: parts,
    blanked: content !== "" && !keepsContent && channel.guildId !== null ? parts : undefined,
    intent: channel.guildId === null ? Intent.DirectMessages : Intent.GuildMessages,
    onFirstSend: fields.onFirstSend,
  }
}

export const threadCreateEntry = (world: World, guild: Guild, spec: ChannelSpec): StreamEntry => {
  const thread = upsertChannel(world, guild, spec)
  return {
    event: "THREAD_CREATE",
    data: json({ ...channelJson(thread, true), newly_created: true }),
    intent: Intent.Guilds,
  }
}

/** Changes the world for an event and returns the stream entry for it. */
export const eventEntry = (
  world: World,
  event: SimEvent,
  newId: (atMillis?: number) => string,
): { readonly guildId: string | null; readonly entry: StreamEntry } => {
  const now = Date.now()
  switch (event.type) {
    case "message": {
      const guild = requireGuild(world, event.guildId)
      const id = event.id ?? newId(event.atMillis ?? now)
      const entry = messageEntry(world, {
        id,
        guild,
        channelId: event.channelId,
        authorId: event.authorId,
        bot: event.bot ?? false,
        messageType: event.messageType ?? 0,
        content: event.content ?? "",
        mentionIds: event.mentionIds ?? [],
        replyToMessageId: event.replyToMessageId,
      })
      return { guildId: guild.id, entry }
    }
    case "threadCreate": {
      const guild = requireGuild(world, event.guildId)
      return { guildId: guild.id, entry: threadCreateEntry(world, guild, event.thread) }
    }
    case "voiceState": {
      const guild = requireGuild(world, event.guildId)
      const member =
        guild.members.get(event.userId) ?? upsertMember(world, guild, { userId: event.userId }, now)
      const state = {
        userId: event.userId,
        channelId: event.channelId ?? "",
        sessionId: `voice-${event.userId}`,
        selfMute: event.selfMute ?? false,
        selfDeaf: event.selfDeaf ?? false,
      }
      if (event.channelId === null) guild.voiceStates.delete(event.userId)
      else guild.voiceStates.set(event.userId, state)
      const data = {
        ...voiceStateJson(guild, state, true),
        channel_id: event.channelId,
        member: memberJson(world, member, true),
      }
      return {
        guildId: guild.id,
        entry: { event: "VOICE_STATE_UPDATE", data: json(data), intent: Intent.GuildVoiceStates },
      }
    }
    case "memberAdd": {
      const guild = requireGuild(world, event.guildId)
      const member = upsertMember(
        world,
        guild,
        {
          userId: event.userId,
          bot: event.bot,
          username: event.username,
          roles: event.roles ?? [],
        },
        now,
      )
      const data = { ...memberJson(world, member, true), guild_id: guild.id }
      return {
        guildId: guild.id,
        entry: { event: "GUILD_MEMBER_ADD", data: json(data), intent: Intent.GuildMembers },
      }
    }
    case "memberUpdate": {
      const guild = requireGuild(world, event.guildId)
      if (!guild.members.has(event.userId)) {
        throw new SimEventRejected({ reason: `unknown member ${event.userId}` })
      }
      const member = upsertMember(
        world,
        guild,
        { userId: event.userId, roles: event.roles, nick: event.nick },
        now,
      )
      return { guildId: guild.id, entry: memberUpdateEntry(world, guild, member) }
    }
    case "memberRemove": {
      const guild = requireGuild(world, event.guildId)
      guild.members.delete(event.userId)
      guild.voiceStates.delete(event.userId)
      const user = upsertUser(world, event.userId, false)
      const data = { guild_id: guild.id, user: userJson(user) }
      return {
        guildId: guild.id,
        entry: { event: "GUILD_MEMBER_REMOVE", data: json(data), intent: Intent.GuildMembers },
      }
    }
    case "reactionAdd": {
      const guild = requireGuild(world, event.guildId)
      const member =
        guild.members.get(event.userId) ?? upsertMember(world, guild, { userId: event.userId }, now)
      const authorId = event.messageAuthorId ?? world.messageAuthors.get(event.messageId)
      const data = {
        user_id: event.userId,
        channel_id: event.channelId,
        message_id: event.messageId,
        guild_id: guild.id,
        member: memberJson(world, member, true),
        emoji: event.emoji,
        ...(authorId !== undefined ? { message_author_id: authorId } : {}),
        burst: false,
        burst_colors: [],
        type: 0,
      }
      return {
        guildId: guild.id,
        entry: {
          event: "MESSAGE_REACTION_ADD",
          data: json(data),
          intent: Intent.GuildMessageReactions,
        },
      }
    }
    case "channelCreate":
    case "channelUpdate": {
      const guild = requireGuild(world, event.guildId)
      const channel = upsertChannel(world, guild, event.channel)
      const name = event.type === "channelCreate" ? "CHANNEL_CREATE" : "CHANNEL_UPDATE"
      return {
        guildId: guild.id,
        entry: { event: name, data: json(channelJson(channel, true)), intent: Intent.Guilds },
      }
    }
    case "channelDelete": {
      const guild = requireGuild(world, event.guildId)
      const channel = guild.channels.get(event.channelId)
      if (!channel) throw new SimEventRejected({ reason: `unknown channel ${event.channelId}` })
      removeChannel(world, guild, channel.id)
      return {
        guildId: guild.id,
        entry: {
          event: channel.type >= 10 && channel.type <= 12 ? "THREAD_DELETE" : "CHANNEL_DELETE",
          data: json(channelJson(channel, true)),
          intent: Intent.Guilds,
        },
      }
    }
    case "roleCreate":
    case "roleUpdate": {
      const guild = requireGuild(world, event.guildId)
      const role = upsertRole(guild, event.role)
      const name = event.type === "roleCreate" ? "GUILD_ROLE_CREATE" : "GUILD_ROLE_UPDATE"
      const data = { guild_id: guild.id, role: roleJson(role) }
      return { guildId: guild.id, entry: { event: name, data: json(data), intent: Intent.Guilds } }
    }
    case "roleDelete": {
      const guild = requireGuild(world, event.guildId)
      if (!guild.roles.delete(event.roleId)) {
        throw new SimEventRejected({ reason: `unknown role ${event.roleId}` })
      }
      for (const member of guild.members.values()) {
        member.roles = member.roles.filter((id) => id !== event.roleId)
      }
      const data = { guild_id: guild.id, role_id: event.roleId }
      return {
        guildId: guild.id,
        entry: { event: "GUILD_ROLE_DELETE", data: json(data), intent: Intent.Guilds },
      }
    }
    case "guildDelete": {
      const guild = requireGuild(world, event.guildId)
      const unavailable = event.unavailable ?? false
      if (!unavailable) {
        world.guilds.delete(guild.id)
        for (const channelId of guild.channels.keys()) world.channels.delete(channelId)
      }
      const data = unavailable ? { id: guild.id, unavailable: true } : { id: guild.id }
      return {
        guildId: guild.id,
        entry: { event: "GUILD_DELETE", data: json(data), intent: Intent.Guilds },
      }
    }
    case "raw":
      return {
        guildId: event.guildId,
        entry: { event: event.event, data: json(event.data), intent: event.intent ?? 0 },
      }
  }
}

export const memberUpdateEntry = (world: World, guild: Guild, member: Member): StreamEntry => {
  const user = world.users.get(member.userId)
  const data = {
    guild_id: guild.id,
    ...memberJson(world, member, false),
    ...(user ? { user: userJson(user) } : {}),
  }
  // the bot's own member updates arrive without the GUILD_MEMBERS intent
  const intent = member.userId === world.bot.id ? 0 : Intent.GuildMembers
  return { event: "GUILD_MEMBER_UPDATE", data: json(data), intent }
}

export interface InteractionInput {
  readonly guildId: string
  readonly channelId: string
  readonly userId: string
  readonly commandName: string
  /** application command options as Discord sends them: `{ name, type, value }` or nested */
  readonly options?: ReadonlyArray<unknown> | undefined
  readonly commandId?: string | undefined
  readonly locale?: string | undefined
}

/** INTERACTION_CREATE for a slash command, with the member's permission bits in the channel. */
export const interactionEntry = (
  world: World,
  input: InteractionInput,
  ids: { readonly id: string; readonly token: string; readonly commandId: string },
  onFirstSend: () => void,
): StreamEntry => {
  const guild = requireGuild(world, input.guildId)
  const channel = guild.channels.get(input.channelId)
  if (!channel) throw new SimEventRejected({ reason: `unknown channel ${input.channelId}` })
  const member =
    guild.members.get(input.userId) ??
    upsertMember(world, guild, { userId: input.userId }, Date.now())
  const botMember = guild.members.get(world.bot.id)
  const options = input.options ?? []
  const userOptionIds = collectUserOptions(options)
  const resolvedUsers = userOptionIds.flatMap((id) => {
    const user = world.users.get(id)
    return user ? [user] : []
  })
  const data = {
    id: ids.id,
    application_id: world.bot.id,
    type: 2,
    token: ids.token,
    version: 1,
    data: {
      id: ids.commandId,
      name: input.commandName,
      type: 1,
      guild_id: guild.id,
      options,
      ...(resolvedUsers.length > 0
        ? {
            resolved: {
              users: Object.fromEntries(resolvedUsers.map((user) => [user.id, userJson(user)])),
              members: Object.fromEntries(
                resolvedUsers.flatMap((user) => {
                  const resolved = guild.members.get(user.id)
                  if (!resolved) return []
                  const { user: _user, ...rest } = memberJson(world, resolved, false) as {
                    user?: unknown
                  }
                  return [
                    [
                      user.id,
                      {
                        ...rest,
                        permissions: channelPermissions(guild, resolved, channel).toString(),
                      },
                    ],
                  ]
                }),
              ),
            },
          }
        : {}),
    },
    guild: { id: guild.id, locale: "en-US", features: [] },
    guild_id: guild.id,
    channel: channelJson(channel, true),
    channel_id: channel.id,
    member: {
      ...memberJson(world, member, true),
      permissions: channelPermissions(guild, member, channel).toString(),
    },
    app_permissions: botMember ? channelPermissions(guild, botMember, channel).toString() : "0",
    locale: input.locale ?? "en-US",
    guild_locale: "en-US",
    entitlements: [],
    authorizing_integration_owners: { "0": guild.id },
    context: 0,
    attachment_size_limit: 10485760,
  }
  return { event: "INTERACTION_CREATE", data: json(data), intent: 0, onFirstSend }
}

const collectUserOptions = (options: ReadonlyArray<unknown>): Array<string> =>
  options.flatMap((option) => {
    if (typeof option !== "object" || option === null) return []
    const {
      type,
      value,
      options: nested,
    } = option as {
      type?: unknown
      value?: unknown
      options?: unknown
    }
    if (Array.isArray(nested)) return collectUserOptions(nested)
    return type === 6 && typeof value === "string" ? [value] : []
  })
