/** What a script may ask about the elastic job it runs in. */
import { elasticSession } from './session.ts'

/** The elastic job a rank runs in. */
export interface ElasticInfo {
  /** The current generation: 0 at the start, one more per change of world. */
  generation: number
  min: number
  max: number
}

/**
 * The elastic job this rank runs in, once init() has run; undefined outside `tsrun --elastic`.
 *
 * @example
 * ```ts
 * if (elasticInfo()) console.log(`generation ${elasticInfo()!.generation}`)
 * ```
 */
export function elasticInfo(): ElasticInfo | undefined {
  const session = elasticSession()
  if (!session) return undefined
  const { min, max } = session.range
  return { generation: session.generation, min, max }
}
