/**
 * A small world with messages, made inline (no trace file): guilds spread over Discord shards,
 * text channels, a category, a voice channel, threads announced before their first message,
 * members with roles, bots and system messages.
 */
import { fromTimestamp } from "@tally/domain/Snowflake"
import type { GuildSpec, ReplayMessage, WorldSpec } from "../../src/World"

const BASE = Date.UTC(2026, 0, 1)

/** guild ids whose Discord shard (id >> 22) % count is i % count */
export const guildId = (index: number) => fromTimestamp(BASE + index, 7)

export const fixtureWorld = (options: {
  readonly guilds: number
  readonly messages: number
  readonly startMillis?: number
}): WorldSpec => {
  const start = options.startMillis ?? Date.now() - 3_600_000
  const guilds: Array<GuildSpec> = []
  for (let index = 0; index < options.guilds; index++) {
    const id = guildId(index)
    const at = (offset: number) => fromTimestamp(BASE + 1000 * (index + 1) + offset, 1)
    guilds.push({
      id,
      name: `guild ${index}`,
      ownerId: at(900),
      channels: [
        { id: at(1), type: 4, name: "text", parent_id: null },
        { id: at(2), type: 0, name: "general", parent_id: at(1) },
        { id: at(3), type: 0, name: "random", parent_id: at(1) },
        { id: at(4), type: 2, name: "voice", parent_id: null },
        { id: at(5), type: 15, name: "forum", parent_id: null },
      ],
      threads: [
        { id: at(10), type: 11, name: "thread a", parent_id: at(2) },
        { id: at(11), type: 11, name: "post b", parent_id: at(5) },
      ],
      roles: [
        { id: at(20), name: "level 5", position: 1, permissions: "0" },
        { id: at(21), name: "moderator", position: 5, permissions: "268435456" },
      ],
      members: Array.from({ length: 8 }, (_, member) => ({
        userId: at(900 + member),
        bot: member === 7,
        roles: member === 0 ? [at(21)] : [],
      })),
    })
  }
  const messages: Array<ReplayMessage> = []
  const announced = new Set<string>()
  for (let index = 0; index < options.messages; index++) {
    const guild = guilds[index % guilds.length] as GuildSpec
    const channels = [...(guild.channels ?? []), ...(guild.threads ?? [])].filter(
      (channel) => channel.type === 0 || channel.type === 11,
    )
    const channel = channels[(index * 7) % channels.length] as { id: string; type: number }
    const members = guild.members ?? []
    const author = members[(index * 13) % members.length] as { userId: string; bot?: boolean }
    const isThread = channel.type === 11
    const first = isThread && !announced.has(channel.id)
    if (first) announced.add(channel.id)
    messages.push({
      id: fromTimestamp(start + index * 10, index % 4096),
      guild_id: guild.id,
      channel_id: channel.id,
      author: author.userId,
      bot: author.bot ?? false,
      type: index % 50 === 0 ? 7 : index % 5 === 0 ? 19 : 0,
      mentions: 0,
      ...(first ? { announceThreadFirst: channel.id } : {}),
    })
  }
  return { guilds, messages }
}
