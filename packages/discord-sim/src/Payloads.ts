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

// -- the hot path: MESSAGE_CREATE bytes built from cached fragments ----------------------------

const userBytes = new WeakMap<User, { readonly username: string; readonly bytes: Buffer }>()
const memberBytes = new WeakMap<Member, { readonly roles: Array<string>; readonly bytes: Buffer }>()

/** `JSON.stringify(userJson(user))` as UTF-8, cached until the user's name changes. */
const userJsonBytes = (user: User): Buffer => {
  const cached = userBytes.get(user)
  if (cached && cached.username === user.username) return cached.bytes
  const bytes = Buffer.from(JSON.stringify(userJson(user)))
  userBytes.set(user, { username: user.username, bytes })
  return bytes
}

/**
 * `JSON.stringify(memberJson(world, member, false))` as UTF-8, cached until its roles change
 * (role changes replace the array; a nick change replaces the member).
 */
const memberJsonBytes = (world: World, member: Member): Buffer => {
  const cached = memberBytes.get(member)
  if (cached && cached.roles === member.roles) return cached.bytes
  const bytes = Buffer.from(JSON.stringify(memberJson(world, member, false)))
  memberBytes.set(member, { roles: member.roles, bytes })
  return bytes
}

const SLAB_BYTES = 1024 * 1024
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
let slabOffset = 0

/**
 * A slice of a shared 1 MiB slab: Node's own pool is 8 KiB, so a new pool every few messages
 * cost more than the message. Slabs are freed once all their messages are acknowledged, and
 * streams are acknowledged in order, so slabs free in order too.
 */
const slabSlice = (size: number): Buffer => {
  if (size > SLAB_BYTES / 8) return Buffer.allocUnsafe(size)
  if (slabOffset + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
    slabOffset = 0
  }
  const slice = slab.subarray(slabOffset, slabOffset + size)
  slabOffset += (size + 7) & ~7
  return slice
}

const ascii = (text: string) => Buffer.from(text, "latin1")
const ID = ascii('{"id":"')
const MEMBER = ascii(',"member":')
const CONTENT = ascii(',"content":')
const TIMESTAMP = ascii(',"timestamp":"')
const FIXED = ascii('","edited_timestamp":null,"tts":false,"mention_everyone":false,"mentions":')
const AFTER_MENTIONS = ascii(',"mention_roles":[],"attachments":[],"embeds":')
const AFTER_EMBEDS = ascii(',"components":[],"pinned":false,"type":')
const FLAGS = ascii(',"flags":0')
const EMPTY_LIST = ascii("[]")

/**
 * The bytes of `JSON.stringify(messageJson(world, input, true))` (a gateway MESSAGE_CREATE), put
 * together from cached fragments: replay makes one for every trace message, and building a JSON
 * string then encoding it cost several times more (a test pins the equality).
 */
export const messageEventBytes = (world: World, input: MessageInput): Buffer =>
  new MessageEventParts(world, input, input.timestamp, input.content).build(false)

/** ASCII text (ids, numbers, timestamps) written byte by byte: cheaper than a native call. */
const writeAscii = (out: Buffer, text: string, at: number): number => {
  for (let index = 0; index < text.length; index++) out[at + index] = text.charCodeAt(index)
  return at + text.length
}

const channelHeads = new WeakMap<Channel, Buffer>()
/** `","channel_id":"…","guild_id":"…","author":` of a channel (its id and guild never change) */
const channelHead = (channel: Channel): Buffer => {
  let head = channelHeads.get(channel)
  if (head === undefined) {
    const guildId = channel.guildId
    head = ascii(
      `","channel_id":"${channel.id}"${guildId !== null ? `,"guild_id":"${guildId}"` : ""},"author":`,
    )
    channelHeads.set(channel, head)
  }
  return head
}
const channelTails = new Map<number, Buffer>()
/** `,"channel_type":N}` */
const channelTail = (type: number): Buffer => {
  let tail = channelTails.get(type)
  if (tail === undefined) {
    tail = ascii(`,"channel_type":${type}}`)
    channelTails.set(type, tail)
  }
  return tail
}
const PLAIN_MIDDLE = Buffer.concat([FIXED, EMPTY_LIST, AFTER_MENTIONS, EMPTY_LIST, AFTER_EMBEDS])

/** Times whose ISO text is `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 characters): years 1970 to 9999. */
const isPlainIsoTime = (millis: number) =>
  Number.isInteger(millis) && millis >= 0 && millis < 253_402_300_800_000

let isoDay = Number.NaN
let isoDayPrefix = ""
/**
 * Writes `new Date(millis).toISOString()` (a plain ISO time) at `at`, the date formatted once
 * per day: `toISOString` per message cost more than the rest of the message.
 */
const writeIso = (out: Buffer, millis: number, at: number): number => {
  const day = Math.floor(millis / 86_400_000)
  if (day !== isoDay) {
    isoDay = day
    isoDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11)
  }
  at = writeAscii(out, isoDayPrefix, at)
  let rest = millis - day * 86_400_000
  const hours = Math.floor(rest / 3_600_000)
  rest -= hours * 3_600_000
  const minutes = Math.floor(rest / 60_000)
  rest -= minutes * 60_000
  const seconds = Math.floor(rest / 1000)
  const fraction = rest - seconds * 1000
  out[at++] = 48 + Math.floor(hours / 10)
  out[at++] = 48 + (hours % 10)
  out[at++] = 58 // :
  out[at++] = 48 + Math.floor(minutes / 10)
  out[at++] = 48 + (minutes % 10)
  out[at++] = 58
  out[at++] = 48 + Math.floor(seconds / 10)
  out[at++] = 48 + (seconds % 10)
  out[at++] = 46 // .
  out[at++] = 48 + Math.floor(fraction / 100)
  out[at++] = 48 + (Math.floor(fraction / 10) % 10)
  out[at++] = 48 + (fraction % 10)
  out[at++] = 90 // Z
  return at
}

/**
 * A MESSAGE_CREATE's bytes made when sent (`StreamEntry.data`, and `blanked` too: the same
 * object, asked with `blank`): what they need is taken now (the author's and member's bytes as
 * they are now); the gateway writes them straight into the socket's frame batch (`size`, then
 * `writeTo`), so a replayed message is never kept as bytes of its own, and only the variant a
 * session gets is made. `build` gives them as a Buffer (resume, compression). `timestamp` may
 * be the time in epoch milliseconds.
 */
export class MessageEventParts {
  readonly id: string
  readonly head: Buffer
  readonly author: Buffer
  readonly member: Buffer | undefined
  /** epoch milliseconds (a plain ISO time, written digit by digit) or the text */
  readonly timestamp: string | number
  /** from `"edited_timestamp"` to `"type":` */
  readonly middle: Buffer | string
  readonly type: string
  /** webhook id and message reference, when present */
  readonly extra: string
  readonly tail: Buffer
  readonly content: string
  /** the size without the content's JSON */
  readonly fixedBytes: number
  private contentJson: string | undefined = undefined

  constructor(
    world: World,
    input: Omit<MessageInput, "content" | "timestamp">,
    timestamp: string | number,
    content: string,
  ) {
    const guildId = input.channel.guildId
    this.id = input.id
    this.head = channelHead(input.channel)
    this.author = userJsonBytes(input.author)
    this.member = input.member ? memberJsonBytes(world, input.member) : undefined
    this.timestamp =
      typeof timestamp === "number" && !isPlainIsoTime(timestamp)
        ? new Date(timestamp).toISOString()
        : timestamp
    const hasEmbeds = input.embeds !== undefined && input.embeds.length > 0
    this.middle =
      input.mentions.length === 0 && !hasEmbeds
        ? PLAIN_MIDDLE
        : `${FIXED.toString("latin1")}${JSON.stringify(input.mentions.map(userJson))}${AFTER_MENTIONS.toString("latin1")}${hasEmbeds ? JSON.stringify(input.embeds) : "[]"}${AFTER_EMBEDS.toString("latin1")}`
    this.type = String(input.type)
    this.extra =
      input.webhookId === undefined && input.referencedMessageId === undefined
        ? ""
        : `${input.webhookId !== undefined ? `,"webhook_id":"${input.webhookId}"` : ""}${
            input.referencedMessageId !== undefined
              ? `,"message_reference":{"type":0,"message_id":"${input.referencedMessageId}","channel_id":"${input.channel.id}"${guildId !== null ? `,"guild_id":"${guildId}"` : ""}}`
              : ""
          }`
    this.tail = channelTail(input.channel.type)
    this.content = content
    this.fixedBytes =
      ID.length +
      this.id.length +
      this.head.length +
      this.author.length +
      (this.member ? MEMBER.length + this.member.length : 0) +
      CONTENT.length +
      TIMESTAMP.length +
      (typeof this.timestamp === "number" ? 24 : this.timestamp.length) +
      (typeof this.middle === "string" ? Buffer.byteLength(this.middle) : this.middle.length) +
      this.type.length +
      FLAGS.length +
      (this.extra === "" ? 0 : Buffer.byteLength(this.extra)) +
      this.tail.length
  }

  private contentText(blank: boolean): string {
    if (blank || this.content === "") return '""'
    if (this.contentJson === undefined) this.contentJson = JSON.stringify(this.content)
    return this.contentJson
  }

  /** The length of the bytes, with the content or `blank`ed. */
  size(blank: boolean): number {
    const content = this.contentText(blank)
    return this.fixedBytes + (content.length === 2 ? 2 : Buffer.byteLength(content))
  }

  /** Writes the `size(blank)` bytes at `start`; returns the offset after them. */
  writeTo(out: Buffer, start: number, blank: boolean): number {
    // TypedArray#set: Buffer#copy costs far more per call for fragments this small
    out.set(ID, start)
    let at = writeAscii(out, this.id, start + ID.length)
    out.set(this.head, at)
    at += this.head.length
    out.set(this.author, at)
    at += this.author.length
    if (this.member) {
      out.set(MEMBER, at)
      at += MEMBER.length
      out.set(this.member, at)
      at += this.member.length
    }
    out.set(CONTENT, at)
    at += CONTENT.length
    const content = this.contentText(blank)
    if (content.length === 2) at = writeAscii(out, content, at)
    else at += out.write(content, at)
    out.set(TIMESTAMP, at)
    at =
      typeof this.timestamp === "number"
        ? writeIso(out, this.timestamp, at + TIMESTAMP.length)
        : writeAscii(out, this.timestamp, at + TIMESTAMP.length)
    if (typeof this.middle === "string") at += out.write(this.middle, at)
    else {
      out.set(this.middle, at)
      at += this.middle.length
    }
    at = writeAscii(out, this.type, at)
    out.set(FLAGS, at)
    at += FLAGS.length
    if (this.extra !== "") at += out.write(this.extra, at)
    out.set(this.tail, at)
    return at + this.tail.length
  }

  /** The bytes, with the content or `blank`ed. */
  build(blank: boolean): Buffer {
    const out = slabSlice(this.size(blank))
    this.writeTo(out, 0, blank)
    return out
  }
}
