export * as ActivityDelta from "./ActivityDelta"
export * as LevelCurve from "./LevelCurve"
export * as ManagerApi from "./ManagerApi"
export * as Snowflake from "./Snowflake"
