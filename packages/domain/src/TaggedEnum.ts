/**
 * `Data.taggedEnum` answers a Proxy that makes a new constructor on every read of a tag
 * (`Award.Counted(…)` builds a closure before it builds the value); on the counting path that was
 * a closure per message. `taggedEnum` reads every constructor once into a plain object, which
 * works the same otherwise.
 */
import { Data } from "effect"

export const taggedEnum = <A extends { readonly _tag: string }>(
  tags: { readonly [Tag in A["_tag"]]: null },
): Data.TaggedEnum.Constructor<A> => {
  const proxy = Data.taggedEnum<A>() as unknown as Record<string, unknown>
  const constructors: Record<string, unknown> = { $is: proxy.$is, $match: proxy.$match }
  for (const tag of Object.keys(tags)) constructors[tag] = proxy[tag]
  return constructors as Data.TaggedEnum.Constructor<A>
}
