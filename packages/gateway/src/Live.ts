/**
 * The gateway's layer graph, composed once: manager client and DB shard clients, the counting
 * core, guild state and the session store, the Discord connection, the dispatch loop, the HTTP
 * endpoints and the heartbeat. Config comes from the environment (or the caller's provider).
 */
import { layerConfig as managerClientLayer } from "@tally/manager/ManagerClient"
import { layer as shardClientsLayer } from "@tally/sql/ShardClients"
import { Layer } from "effect"
import * as CountingCore from "./CountingCore"
import * as Discord from "./Discord"
import * as Dispatch from "./Dispatch"
import * as GuildState from "./GuildState"
import * as Heartbeat from "./Heartbeat"
import * as HttpServer from "./HttpServer"
import * as Interactions from "./Interactions"
import * as LevelUps from "./LevelUps"
import * as Session from "./Session"
import * as VoiceTracker from "./VoiceTracker"
import * as Votes from "./Votes"

/** Where session, spill, dead-letter and waiting files live. */
export const defaultStateDirectory = ".tally"

export const layer = (
  options: {
    readonly stateDirectory?: string
    readonly dispatch?: Partial<Dispatch.DispatchOptions>
    readonly discord?: Discord.DiscordOptions
    readonly voice?: VoiceTracker.Options
    readonly interactions?: Interactions.Options
  } = {},
) => {
  const directory = options.stateDirectory ?? defaultStateDirectory
  const infrastructure = Layer.mergeAll(managerClientLayer, shardClientsLayer())
  const core = CountingCore.layerWith({ directory }).pipe(Layer.provideMerge(infrastructure))
  const state = Layer.mergeAll(GuildState.layer, Session.layer(directory))
  const connection = Discord.layer(options.discord).pipe(Layer.provideMerge(state))
  const features = Layer.mergeAll(
    VoiceTracker.layer(options.voice),
    Votes.layer(),
    LevelUps.layer(),
    Interactions.layer(options.interactions),
  ).pipe(Layer.provideMerge(Layer.merge(connection, core)))
  const dispatching = Dispatch.layer(options.dispatch).pipe(Layer.provideMerge(features))
  return Layer.mergeAll(HttpServer.layer, Heartbeat.layer).pipe(Layer.provideMerge(dispatching))
}
