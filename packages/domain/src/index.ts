export * as ActivityDelta from "./ActivityDelta"
export * as LevelCurve from "./LevelCurve"
export * as Snowflake from "./Snowflake"
