export * as ActivityDelta from "./ActivityDelta"
export * as LevelCurve from "./LevelCurve"
export * as PeriodKey from "./PeriodKey"
export * as Snowflake from "./Snowflake"
