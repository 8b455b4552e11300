/**
 * Lean in-memory state of the guilds this process serves, built from GUILD_CREATE and kept up to
 * date by the update and delete events: channels (type, parent, permission overwrites), threads,
 * roles, the bot's own roles, members' roles as seen, afk channel, owner, name. Nothing per
 * message is kept.
 *
 * Only the dispatch fiber writes it, one event at a time, so plain maps behind `Effect.sync` suffice.
 */
import * as Permissions from "@tally/domain/Permissions"
import type { Snowflake } from "@tally/domain/Snowflake"
import { ChannelType } from "discord-api-types/v10"
import { Context, Effect, Layer, Option } from "effect"

export const isThread = (channelType: number): boolean =>
  channelType === ChannelType.AnnouncementThread ||
  channelType === ChannelType.PublicThread ||
  channelType === ChannelType.PrivateThread

export interface ChannelInfo {
  readonly id: Snowflake
  readonly type: number
  /** A thread's parent channel, or a channel's category; null at the top. */
  readonly parentId: Snowflake | null
  /**
   * Its permission overwrites (a thread has none of its own). Absent in a session file saved
   * before they were kept: what the bot may do there is then unknown.
   */
  readonly overwrites?: ReadonlyArray<Permissions.Overwrite>
}

export interface RoleInfo {
  readonly id: Snowflake
  readonly position: number
  /** Permission bits as Discord's decimal string. */
  readonly permissions: string
}

export interface MemberInfo {
  readonly userId: Snowflake
  readonly roleIds: ReadonlyArray<Snowflake>
}

/** One guild, as GUILD_CREATE gives it and as a session file stores it. */
export interface GuildSnapshot {
  readonly id: Snowflake
  readonly name: string
  readonly ownerId: Snowflake | null
  readonly afkChannelId: Snowflake | null
  readonly channels: ReadonlyArray<ChannelInfo>
  readonly roles: ReadonlyArray<RoleInfo>
  readonly members: ReadonlyArray<MemberInfo>
}

export interface GuildHeader {
  readonly name: string
  readonly ownerId: Snowflake | null
  readonly afkChannelId: Snowflake | null
}

/** Where a message's channel sits: the channel itself, a thread's parent, the category. */
export interface ResolvedChannel {
  readonly channel: ChannelInfo
  /** The thread's parent; null when the channel is not a thread. */
  readonly parentId: Snowflake | null
  /** The category of the effective channel (the parent, for a thread). */
  readonly categoryId: Snowflake | null
}

export type Resolution =
  | { readonly _tag: "Resolved"; readonly resolved: ResolvedChannel }
  | { readonly _tag: "UnknownGuild" }
  | { readonly _tag: "UnknownChannel" }

interface GuildEntry {
  header: GuildHeader
  readonly channels: Map<Snowflake, ChannelInfo>
  readonly roles: Map<Snowflake, RoleInfo>
  readonly members: Map<Snowflake, ReadonlyArray<Snowflake>>
}

/** The plain store; `GuildState` is its service face. Exposed for tests and snapshots. */
export class GuildStore {
  private readonly guilds = new Map<Snowflake, GuildEntry>()
  botUserId: Snowflake | null = null

  get size(): number {
    return this.guilds.size
  }

  has(guildId: Snowflake): boolean {
    return this.guilds.has(guildId)
  }

  guildIds(): ReadonlyArray<Snowflake> {
    return [...this.guilds.keys()]
  }

  create(snapshot: GuildSnapshot): void {
    this.guilds.set(snapshot.id, {
      header: {
        name: snapshot.name,
        ownerId: snapshot.ownerId,
        afkChannelId: snapshot.afkChannelId,
      },
      channels: new Map(snapshot.channels.map((channel) => [channel.id, channel])),
      roles: new Map(snapshot.roles.map((role) => [role.id, role])),
      members: new Map(snapshot.members.map((member) => [member.userId, member.roleIds])),
    })
  }

  update(guildId: Snowflake, header: GuildHeader, roles: ReadonlyArray<RoleInfo> | null): void {
    const guild = this.guilds.get(guildId)
    if (!guild) return
    guild.header = header
    if (roles) {
      guild.roles.clear()
      for (const role of roles) guild.roles.set(role.id, role)
    }
  }

  remove(guildId: Snowflake): boolean {
    return this.guilds.delete(guildId)
  }

  upsertChannel(guildId: Snowflake, channel: ChannelInfo): void {
    this.guilds.get(guildId)?.channels.set(channel.id, channel)
  }

  /** Removes a channel and the threads under it. */
  deleteChannel(guildId: Snowflake, channelId: Snowflake): void {
    const guild = this.guilds.get(guildId)
    if (!guild) return
    guild.channels.delete(channelId)
    for (const [id, channel] of guild.channels) {
      if (isThread(channel.type) && channel.parentId === channelId) guild.channels.delete(id)
    }
  }

  /** THREAD_LIST_SYNC: the active threads of `parentIds` (every parent when null) are `threads`. */
  syncThreads(
    guildId: Snowflake,
    parentIds: ReadonlyArray<Snowflake> | null,
    threads: ReadonlyArray<ChannelInfo>,
  ): void {
    const guild = this.guilds.get(guildId)
    if (!guild) return
    const parents = parentIds ? new Set(parentIds) : null
    for (const [id, channel] of guild.channels) {
      if (!isThread(channel.type)) continue
      if (parents === null || (channel.parentId !== null && parents.has(channel.parentId))) {
        guild.channels.delete(id)
      }
    }
    for (const thread of threads) guild.channels.set(thread.id, thread)
  }

  upsertRole(guildId: Snowflake, role: RoleInfo): void {
    this.guilds.get(guildId)?.roles.set(role.id, role)
  }

  deleteRole(guildId: Snowflake, roleId: Snowflake): void {
    const guild = this.guilds.get(guildId)
    if (!guild) return
    guild.roles.delete(roleId)
    for (const [userId, roleIds] of guild.members) {
      if (roleIds.includes(roleId)) {
        guild.members.set(
          userId,
          roleIds.filter((id) => id !== roleId),
        )
      }
    }
  }

  upsertMember(guildId: Snowflake, member: MemberInfo): void {
    this.guilds.get(guildId)?.members.set(member.userId, member.roleIds)
  }

  removeMember(guildId: Snowflake, userId: Snowflake): void {
    this.guilds.get(guildId)?.members.delete(userId)
  }

  resolve(guildId: Snowflake, channelId: Snowflake): Resolution {
    const guild = this.guilds.get(guildId)
    if (!guild) return { _tag: "UnknownGuild" }
    const channel = guild.channels.get(channelId)
    if (!channel) return { _tag: "UnknownChannel" }
    if (isThread(channel.type)) {
      const parent = channel.parentId === null ? undefined : guild.channels.get(channel.parentId)
      return {
        _tag: "Resolved",
        resolved: { channel, parentId: channel.parentId, categoryId: parent?.parentId ?? null },
      }
    }
    return { _tag: "Resolved", resolved: { channel, parentId: null, categoryId: channel.parentId } }
  }

  header(guildId: Snowflake): GuildHeader | undefined {
    return this.guilds.get(guildId)?.header
  }

  channel(guildId: Snowflake, channelId: Snowflake): ChannelInfo | undefined {
    return this.guilds.get(guildId)?.channels.get(channelId)
  }

  role(guildId: Snowflake, roleId: Snowflake): RoleInfo | undefined {
    return this.guilds.get(guildId)?.roles.get(roleId)
  }

  memberRoles(guildId: Snowflake, userId: Snowflake): ReadonlyArray<Snowflake> | undefined {
    return this.guilds.get(guildId)?.members.get(userId)
  }

  /** The roles of the bot's own member in a guild, as last seen. */
  botRoles(guildId: Snowflake): ReadonlyArray<Snowflake> {
    if (this.botUserId === null) return []
    return this.memberRoles(guildId, this.botUserId) ?? []
  }

  /**
   * Whether the bot may post in a channel (view it and send messages, in a thread the thread
   * permission): undefined when that is not known here (guild, channel, the bot's member or the
   * overwrites), and Discord's answer to a post must tell.
   */
  botCanSendIn(guildId: Snowflake, channelId: Snowflake): boolean | undefined {
    const guild = this.guilds.get(guildId)
    const channel = guild?.channels.get(channelId)
    if (guild === undefined || channel === undefined || this.botUserId === null) return undefined
    const roleIds = guild.members.get(this.botUserId)
    const thread = isThread(channel.type)
    const source =
      thread && channel.parentId !== null ? guild.channels.get(channel.parentId) : channel
    if (roleIds === undefined || source?.overwrites === undefined) return undefined
    // A role not known (or bits not understood) would count as no permission: unknown instead.
    for (const roleId of [guildId, ...roleIds]) {
      if (!Permissions.isBits(guild.roles.get(roleId)?.permissions)) return undefined
    }
    const permissions = Permissions.inChannel(
      {
        guildId,
        ownerId: guild.header.ownerId,
        userId: this.botUserId,
        roleIds,
        rolePermissions: (roleId) => guild.roles.get(roleId)?.permissions,
      },
      source.overwrites,
    )
    return Permissions.canSend(permissions, thread)
  }

  snapshot(guildId: Snowflake): GuildSnapshot | undefined {
    const guild = this.guilds.get(guildId)
    if (!guild) return undefined
    return {
      id: guildId,
      ...guild.header,
      channels: [...guild.channels.values()],
      roles: [...guild.roles.values()],
      members: [...guild.members].map(([userId, roleIds]) => ({ userId, roleIds })),
    }
  }
}

export class GuildState extends Context.Tag("@tally/gateway/GuildState")<
  GuildState,
  {
    /** The store itself, for the dispatch fiber (the only writer) and snapshots. */
    readonly store: GuildStore
    readonly resolve: (guildId: Snowflake, channelId: Snowflake) => Effect.Effect<Resolution>
    readonly header: (guildId: Snowflake) => Effect.Effect<Option.Option<GuildHeader>>
    readonly guildCount: Effect.Effect<number>
  }
>() {}

export const make = (store: GuildStore = new GuildStore()): GuildState["Type"] => ({
  store,
  resolve: (guildId, channelId) => Effect.sync(() => store.resolve(guildId, channelId)),
  header: (guildId) => Effect.sync(() => Option.fromNullable(store.header(guildId))),
  guildCount: Effect.sync(() => store.size),
})

export const layer: Layer.Layer<GuildState> = Layer.sync(GuildState, () => make())
