/**
 * Discord's JSON shapes for the world's objects and for dispatch payloads (`d` of op 0), with
 * the field sets real Discord sends (API v10).
 */
import type { Channel, Guild, Member, Role, User, VoiceState, World } from "./World"
import { isThreadType } from "./World"

export const userJson = (user: User) => ({
  id: user.id,
  username: user.username,
  discriminator: "0",
  global_name: user.bot ? null : user.username,
  avatar: null,
  bot: user.bot,
  system: false,
  public_flags: 0,
  flags: 0,
  banner: null,
  accent_color: null,
  avatar_decoration_data: null,
})

export const roleJson = (role: Role) => ({
  id: role.id,
  name: role.name,
  color: role.color,
  colors: { primary_color: role.color, secondary_color: null, tertiary_color: null },
  hoist: false,
  icon: null,
  unicode_emoji: null,
  position: role.position,
  permissions: role.permissions.toString(),
  managed: role.managed,
  mentionable: false,
  flags: 0,
  ...(role.managed ? { tags: { bot_id: role.name } } : {}),
})

/** A member as in GUILD_CREATE and REST (with `user`). */
export const memberJson = (world: World, member: Member, withUser = true) => {
  const user = world.users.get(member.userId)
  return {
    ...(withUser && user ? { user: userJson(user) } : {}),
    nick: member.nick,
    avatar: null,
    banner: null,
    roles: member.roles,
    joined_at: member.joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    communication_disabled_until: null,
  }
}

export const channelJson = (channel: Channel, withGuildId = true) => {
  const base = {
    id: channel.id,
    type: channel.type,
    ...(withGuildId && channel.guildId !== null ? { guild_id: channel.guildId } : {}),
    name: channel.name,
    parent_id: channel.parentId,
    position: channel.position,
    flags: 0,
  }
  if (isThreadType(channel.type)) {
    return {
      ...base,
      owner_id: null,
      last_message_id: null,
      rate_limit_per_user: 0,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: 4320,
        archive_timestamp: new Date().toISOString(),
        locked: false,
        create_timestamp: new Date().toISOString(),
      },
    }
  }
  return {
    ...base,
    permission_overwrites: channel.overwrites,
    ...(channel.type === 2 || channel.type === 13
      ? { bitrate: 64000, user_limit: 0, rtc_region: null }
      : { topic: null, nsfw: false, last_message_id: null, rate_limit_per_user: 0 }),
  }
}

export const voiceStateJson = (guild: Guild, state: VoiceState, withGuildId: boolean) => ({
  ...(withGuildId ? { guild_id: guild.id } : {}),
  channel_id: state.channelId,
  user_id: state.userId,
  session_id: state.sessionId,
  deaf: false,
  mute: false,
  self_deaf: state.selfDeaf,
  self_mute: state.selfMute,
  self_video: false,
  self_stream: false,
  suppress: false,
  request_to_speak_timestamp: null,
})

const guildBaseJson = (guild: Guild) => ({
  id: guild.id,
  name: guild.name,
  icon: null,
  splash: null,
  discovery_splash: null,
  owner_id: guild.ownerId,
  afk_channel_id: null,
  afk_timeout: 300,
  verification_level: 0,
  default_message_notifications: 1,
  explicit_content_filter: 0,
  features: [],
  mfa_level: 0,
  application_id: null,
  system_channel_id: null,
  system_channel_flags: 0,
  rules_channel_id: null,
  vanity_url_code: null,
  description: null,
  banner: null,
  premium_tier: 0,
  premium_subscription_count: 0,
  preferred_locale: "en-US",
  public_updates_channel_id: null,
  nsfw_level: 0,
  premium_progress_bar_enabled: false,
  emojis: [],
  stickers: [],
})

export const guildJson = (guild: Guild) => ({
  ...guildBaseJson(guild),
  roles: [...guild.roles.values()].map(roleJson),
})

/**
 * GUILD_CREATE as Discord sends it without the GUILD_PRESENCES intent: `members` holds only the
 * bot and the members in voice channels; `channels` and `voice_states` carry no `guild_id`.
 */
export const guildCreateJson = (world: World, guild: Guild) => {
  const listed = new Set<string>([world.bot.id, ...guild.voiceStates.keys()])
  const channels = [...guild.channels.values()]
  return {
    ...guildJson(guild),
    joined_at: guild.joinedAt,
    large: guild.members.size > 250,
    unavailable: false,
    member_count: guild.members.size,
    voice_states: [...guild.voiceStates.values()].map((state) =>
      voiceStateJson(guild, state, false),
    ),
    members: [...listed].flatMap((userId) => {
      const member = guild.members.get(userId)
      return member ? [memberJson(world, member)] : []
    }),
    channels: channels
      .filter((channel) => !isThreadType(channel.type))
      .map((channel) => channelJson(channel, false)),
    threads: channels
      .filter((channel) => isThreadType(channel.type))
      .map((channel) => channelJson(channel, true)),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
    max_members: 500000,
    max_video_channel_users: 25,
    incidents_data: null,
    safety_alerts_channel_id: null,
  }
}

export interface MessageInput {
  readonly id: string
  readonly channel: Channel
  readonly author: User
  readonly member: Member | undefined
  readonly type: number
  readonly content: string
  readonly mentions: ReadonlyArray<User>
  readonly timestamp: string
  readonly referencedMessageId?: string | undefined
  readonly embeds?: ReadonlyArray<unknown> | undefined
  readonly webhookId?: string | undefined
}

/** A message object; with `member` (no `user`) and `guild_id` when it is a gateway event. */
export const messageJson = (world: World, input: MessageInput, asEvent: boolean) => ({
  id: input.id,
  channel_id: input.channel.id,
  ...(asEvent && input.channel.guildId !== null ? { guild_id: input.channel.guildId } : {}),
  author: userJson(input.author),
  ...(asEvent && input.member ? { member: memberJson(world, input.member, false) } : {}),
  content: input.content,
  timestamp: input.timestamp,
  edited_timestamp: null,
  tts: false,
  mention_everyone: false,
  mentions: input.mentions.map(userJson),
  mention_roles: [],
  attachments: [],
  embeds: input.embeds ?? [],
  components: [],
  pinned: false,
  type: input.type,
  flags: 0,
  ...(input.webhookId !== undefined ? { webhook_id: input.webhookId } : {}),
  ...(input.referencedMessageId !== undefined
    ? {
        message_reference: {
          type: 0,
          message_id: input.referencedMessageId,
          channel_id: input.channel.id,
          ...(input.channel.guildId !== null ? { guild_id: input.channel.guildId } : {}),
        },
      }
    : {}),
  ...(asEvent ? { channel_type: input.channel.type } : {}),
})

// -- the hot path: MESSAGE_CREATE text built from cached fragments ------------------------------

const userTexts = new WeakMap<User, { readonly username: string; readonly text: string }>()
const memberTexts = new WeakMap<Member, { readonly roles: Array<string>; readonly text: string }>()

/** `JSON.stringify(userJson(user))`, cached until the user's name changes. */
export const userText = (user: User): string => {
  const cached = userTexts.get(user)
  if (cached && cached.username === user.username) return cached.text
  const text = JSON.stringify(userJson(user))
  userTexts.set(user, { username: user.username, text })
  return text
}

/**
 * `JSON.stringify(memberJson(world, member, false))`, cached until its roles change (role
 * changes replace the array; a nick change replaces the member).
 */
export const memberText = (world: World, member: Member): string => {
  const cached = memberTexts.get(member)
  if (cached && cached.roles === member.roles) return cached.text
  const text = JSON.stringify(memberJson(world, member, false))
  memberTexts.set(member, { roles: member.roles, text })
  return text
}

/**
 * The text of `JSON.stringify(messageJson(world, input, true))` (a gateway MESSAGE_CREATE),
 * built from cached fragments: replay sends it for every trace message.
 */
export const messageEventText = (world: World, input: MessageInput): string => {
  const guildId = input.channel.guildId
  const reference =
    input.referencedMessageId !== undefined
      ? `,"message_reference":{"type":0,"message_id":"${input.referencedMessageId}","channel_id":"${input.channel.id}"${guildId !== null ? `,"guild_id":"${guildId}"` : ""}}`
      : ""
  const mentions =
    input.mentions.length === 0 ? "[]" : `[${input.mentions.map(userText).join(",")}]`
  const embeds = input.embeds && input.embeds.length > 0 ? JSON.stringify(input.embeds) : "[]"
  return `{"id":"${input.id}","channel_id":"${input.channel.id}"${guildId !== null ? `,"guild_id":"${guildId}"` : ""},"author":${userText(input.author)}${input.member ? `,"member":${memberText(world, input.member)}` : ""},"content":${JSON.stringify(input.content)},"timestamp":"${input.timestamp}","edited_timestamp":null,"tts":false,"mention_everyone":false,"mentions":${mentions},"mention_roles":[],"attachments":[],"embeds":${embeds},"components":[],"pinned":false,"type":${input.type},"flags":0${input.webhookId !== undefined ? `,"webhook_id":"${input.webhookId}"` : ""}${reference},"channel_type":${input.channel.type}}`
}
