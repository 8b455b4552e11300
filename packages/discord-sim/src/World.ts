/**
 * The simulated Discord's state: guilds, channels, roles, members, users and the bot itself.
 * Plain mutable maps: the gateway and REST handlers run on Node callbacks and change it in place.
 */

/** Permission bits the simulator checks (Discord's values). */
export const Permission = {
  CreateInstantInvite: 1n << 0n,
  Administrator: 1n << 3n,
  ManageChannels: 1n << 4n,
  ManageGuild: 1n << 5n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  EmbedLinks: 1n << 14n,
  ReadMessageHistory: 1n << 16n,
  Connect: 1n << 20n,
  Speak: 1n << 21n,
  ManageRoles: 1n << 28n,
  UseApplicationCommands: 1n << 31n,
  SendMessagesInThreads: 1n << 38n,
} as const

const ALL_PERMISSIONS = (1n << 51n) - 1n

/** What `@everyone` may do in a new guild (roughly Discord's default). */
export const DEFAULT_EVERYONE_PERMISSIONS =
  Permission.CreateInstantInvite |
  Permission.AddReactions |
  Permission.ViewChannel |
  Permission.SendMessages |
  Permission.EmbedLinks |
  Permission.ReadMessageHistory |
  Permission.Connect |
  Permission.Speak |
  Permission.UseApplicationCommands |
  Permission.SendMessagesInThreads

/** The bot's managed role: what an invite with "Manage Roles, Send Messages, View Channels" grants. */
export const DEFAULT_BOT_PERMISSIONS =
  Permission.ViewChannel |
  Permission.SendMessages |
  Permission.SendMessagesInThreads |
  Permission.EmbedLinks |
  Permission.ReadMessageHistory |
  Permission.ManageRoles |
  Permission.AddReactions

export const ChannelType = {
  GuildText: 0,
  DM: 1,
  GuildVoice: 2,
  GuildCategory: 4,
  GuildAnnouncement: 5,
  AnnouncementThread: 10,
  PublicThread: 11,
  PrivateThread: 12,
  GuildStageVoice: 13,
  GuildForum: 15,
} as const

export const isThreadType = (type: number): boolean => type === 10 || type === 11 || type === 12

// ---------------------------------------------------------------------------------------------
// Input: how a world is described (what TraceWorld.worldFromTrace produces, see INTERFACE-NOTES)

export interface ChannelSpec {
  readonly id: string
  readonly type: number
  readonly parent_id?: string | null | undefined
  readonly name?: string | undefined
  readonly position?: number | undefined
  readonly permission_overwrites?: ReadonlyArray<OverwriteSpec> | undefined
}

export interface OverwriteSpec {
  readonly id: string
  /** 0 role, 1 member */
  readonly type: 0 | 1
  readonly allow: string
  readonly deny: string
}

export interface RoleSpec {
  readonly id: string
  readonly name?: string | undefined
  readonly position?: number | undefined
  /** Permission bits as a decimal string (Discord's JSON form). */
  readonly permissions?: string | undefined
  readonly managed?: boolean | undefined
  readonly color?: number | undefined
}

export interface MemberSpec {
  readonly userId: string
  readonly bot?: boolean | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly username?: string | undefined
  readonly nick?: string | null | undefined
}

export interface VoiceStateSpec {
  readonly userId: string
  readonly channelId: string
  readonly selfMute?: boolean | undefined
  readonly selfDeaf?: boolean | undefined
}

export interface GuildSpec {
  readonly id: string
  readonly name?: string | undefined
  readonly ownerId?: string | undefined
  readonly channels?: ReadonlyArray<ChannelSpec> | undefined
  readonly threads?: ReadonlyArray<ChannelSpec> | undefined
  readonly roles?: ReadonlyArray<RoleSpec> | undefined
  readonly members?: ReadonlyArray<MemberSpec> | undefined
  readonly voiceStates?: ReadonlyArray<VoiceStateSpec> | undefined
}

/** One message of a replay, as TraceWorld produces it. */
export interface ReplayMessage {
  readonly id: string
  readonly guild_id: string
  readonly channel_id: string
  readonly author: string
  readonly bot: boolean
  readonly type: number
  readonly mentions?: number | ReadonlyArray<string> | undefined
  readonly reply_to_author?: string | undefined
  /** the replied-to message, when known */
  readonly referenced_message_id?: string | undefined
  readonly content?: string | undefined
  readonly announceThreadFirst?: string | undefined
}

export interface WorldSpec {
  readonly guilds: ReadonlyArray<GuildSpec>
  readonly messages?: ReadonlyArray<ReplayMessage> | undefined
}

// ---------------------------------------------------------------------------------------------
// State

export interface User {
  readonly id: string
  username: string
  bot: boolean
}

export interface Role {
  readonly id: string
  name: string
  position: number
  permissions: bigint
  managed: boolean
  color: number
}

export interface Channel {
  readonly id: string
  readonly guildId: string | null
  type: number
  name: string
  parentId: string | null
  position: number
  overwrites: Array<OverwriteSpec>
  /** DM channels only */
  recipientId?: string
}

export interface Member {
  readonly userId: string
  roles: Array<string>
  nick: string | null
  joinedAt: string
}

export interface VoiceState {
  readonly userId: string
  channelId: string
  sessionId: string
  selfMute: boolean
  selfDeaf: boolean
}

export interface Guild {
  readonly id: string
  name: string
  ownerId: string
  readonly joinedAt: string
  readonly roles: Map<string, Role>
  readonly channels: Map<string, Channel>
  readonly members: Map<string, Member>
  readonly voiceStates: Map<string, VoiceState>
}

export interface World {
  readonly bot: User
  readonly users: Map<string, User>
  readonly guilds: Map<string, Guild>
  /** channel id → channel, for guild channels, threads and DMs */
  readonly channels: Map<string, Channel>
  /** message id → author id (for replies and reactions); bounded by what was sent */
  readonly messageAuthors: Map<string, string>
}

export interface BotSpec {
  readonly id: string
  readonly username: string
  /** the bot role's position; default: just above every role of the spec */
  readonly rolePosition?: number | undefined
  readonly permissions?: bigint | undefined
}

const iso = (millis: number) => new Date(millis).toISOString()

export const makeWorld = (bot: BotSpec, spec: WorldSpec, nowMillis: number): World => {
  const botUser: User = { id: bot.id, username: bot.username, bot: true }
  const world: World = {
    bot: botUser,
    users: new Map([[botUser.id, botUser]]),
    guilds: new Map(),
    channels: new Map(),
    messageAuthors: new Map(),
  }
  const announced = new Set<string>()
  for (const message of spec.messages ?? []) {
    if (message.announceThreadFirst !== undefined) announced.add(message.announceThreadFirst)
  }
  for (const guildSpec of spec.guilds) addGuild(world, guildSpec, bot, nowMillis, announced)
  return world
}

export const addGuild = (
  world: World,
  spec: GuildSpec,
  bot: BotSpec,
  nowMillis: number,
  announcedLater: ReadonlySet<string> = new Set(),
): Guild => {
  const guild: Guild = {
    id: spec.id,
    name: spec.name ?? `guild ${spec.id.slice(-4)}`,
    ownerId: spec.ownerId ?? spec.members?.find((member) => !member.bot)?.userId ?? bot.id,
    joinedAt: iso(nowMillis),
    roles: new Map(),
    channels: new Map(),
    members: new Map(),
    voiceStates: new Map(),
  }
  world.guilds.set(guild.id, guild)
  for (const role of spec.roles ?? []) upsertRole(guild, role)
  if (!guild.roles.has(guild.id)) {
    upsertRole(guild, {
      id: guild.id,
      name: "@everyone",
      position: 0,
      permissions: DEFAULT_EVERYONE_PERMISSIONS.toString(),
    })
  }
  for (const channel of spec.channels ?? []) upsertChannel(world, guild, channel)
  for (const thread of spec.threads ?? []) {
    if (!announcedLater.has(thread.id)) upsertChannel(world, guild, thread)
  }
  for (const member of spec.members ?? []) upsertMember(world, guild, member, nowMillis)
  if (!guild.members.has(bot.id)) {
    const top = Math.max(0, ...[...guild.roles.values()].map((role) => role.position))
    const botRoleId = (BigInt(bot.id) + BigInt(guild.id.slice(-6))).toString()
    upsertRole(guild, {
      id: botRoleId,
      name: bot.username,
      position: bot.rolePosition ?? top + 1,
      permissions: (bot.permissions ?? DEFAULT_BOT_PERMISSIONS).toString(),
      managed: true,
    })
    upsertMember(world, guild, { userId: bot.id, bot: true, roles: [botRoleId] }, nowMillis)
  }
  for (const voice of spec.voiceStates ?? []) {
    guild.voiceStates.set(voice.userId, {
      userId: voice.userId,
      channelId: voice.channelId,
      sessionId: `voice-${voice.userId}`,
      selfMute: voice.selfMute ?? false,
      selfDeaf: voice.selfDeaf ?? false,
    })
  }
  return guild
}

export const upsertRole = (guild: Guild, spec: RoleSpec): Role => {
  const existing = guild.roles.get(spec.id)
  const role: Role = {
    id: spec.id,
    name: spec.name ?? existing?.name ?? `role ${spec.id.slice(-4)}`,
    position: spec.position ?? existing?.position ?? guild.roles.size,
    permissions:
      spec.permissions !== undefined
        ? BigInt(spec.permissions)
        : (existing?.permissions ?? (spec.id === guild.id ? DEFAULT_EVERYONE_PERMISSIONS : 0n)),
    managed: spec.managed ?? existing?.managed ?? false,
    color: spec.color ?? existing?.color ?? 0,
  }
  guild.roles.set(role.id, role)
  return role
}

const defaultChannelName = (spec: ChannelSpec) =>
  `${isThreadType(spec.type) ? "thread" : "channel"}-${spec.id.slice(-4)}`

export const upsertChannel = (world: World, guild: Guild, spec: ChannelSpec): Channel => {
  const existing = guild.channels.get(spec.id)
  const channel: Channel = {
    id: spec.id,
    guildId: guild.id,
    type: spec.type,
    name: spec.name ?? existing?.name ?? defaultChannelName(spec),
    parentId: spec.parent_id ?? existing?.parentId ?? null,
    position: spec.position ?? existing?.position ?? guild.channels.size,
    overwrites: [...(spec.permission_overwrites ?? existing?.overwrites ?? [])],
  }
  guild.channels.set(channel.id, channel)
  world.channels.set(channel.id, channel)
  return channel
}

export const removeChannel = (world: World, guild: Guild, channelId: string): boolean => {
  world.channels.delete(channelId)
  return guild.channels.delete(channelId)
}

export const upsertUser = (world: World, id: string, bot: boolean, username?: string): User => {
  const existing = world.users.get(id)
  if (existing) {
    if (username !== undefined) existing.username = username
    return existing
  }
  const user: User = { id, username: username ?? `user${id.slice(-6)}`, bot }
  world.users.set(id, user)
  return user
}

export const upsertMember = (
  world: World,
  guild: Guild,
  spec: MemberSpec,
  nowMillis: number,
): Member => {
  upsertUser(world, spec.userId, spec.bot ?? false, spec.username)
  const existing = guild.members.get(spec.userId)
  const member: Member = {
    userId: spec.userId,
    roles: [...(spec.roles ?? existing?.roles ?? [])],
    nick: spec.nick !== undefined ? spec.nick : (existing?.nick ?? null),
    joinedAt: existing?.joinedAt ?? iso(nowMillis),
  }
  guild.members.set(member.userId, member)
  return member
}

/** The guild members' highest role position (0 for none but @everyone). */
export const highestRolePosition = (guild: Guild, member: Member): number =>
  Math.max(0, ...member.roles.map((id) => guild.roles.get(id)?.position ?? 0))

export const basePermissions = (guild: Guild, member: Member): bigint => {
  if (guild.ownerId === member.userId) return ALL_PERMISSIONS
  let permissions = guild.roles.get(guild.id)?.permissions ?? 0n
  for (const roleId of member.roles) permissions |= guild.roles.get(roleId)?.permissions ?? 0n
  return (permissions & Permission.Administrator) !== 0n ? ALL_PERMISSIONS : permissions
}

/** Discord's permission computation with overwrites (threads use their parent's overwrites). */
export const channelPermissions = (guild: Guild, member: Member, channel: Channel): bigint => {
  let permissions = basePermissions(guild, member)
  if (permissions === ALL_PERMISSIONS) return permissions
  const source =
    isThreadType(channel.type) && channel.parentId !== null
      ? (guild.channels.get(channel.parentId) ?? channel)
      : channel
  const overwrites = source.overwrites
  const everyone = overwrites.find((overwrite) => overwrite.id === guild.id)
  if (everyone) permissions = (permissions & ~BigInt(everyone.deny)) | BigInt(everyone.allow)
  let allow = 0n
  let deny = 0n
  for (const overwrite of overwrites) {
    if (overwrite.type === 0 && member.roles.includes(overwrite.id)) {
      allow |= BigInt(overwrite.allow)
      deny |= BigInt(overwrite.deny)
    }
  }
  permissions = (permissions & ~deny) | allow
  const own = overwrites.find((overwrite) => overwrite.type === 1 && overwrite.id === member.userId)
  if (own) permissions = (permissions & ~BigInt(own.deny)) | BigInt(own.allow)
  return permissions
}

export const has = (permissions: bigint, bit: bigint): boolean => (permissions & bit) === bit

/** The Discord shard a guild belongs to. */
export const discordShardOf = (guildId: string, shardCount: number): number =>
  Number((BigInt(guildId) >> 22n) % BigInt(shardCount))
