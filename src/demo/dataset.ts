// The demo's data, generated from a seed into a folder: the shop database, SFT requests answered by engineers in
// mixed SQL styles, holdout requests in phrasings training never shows (the split is by phrasing template) with
// the house's gold SQL, and the DBA's preference pairs (house style chosen, a generic query with the same result rejected).
import { join } from 'node:path';
import { writeJsonlAtomic } from '../formats/atomic.ts';
import { Rng } from '../tensor/random.ts';
import { buildShopDatabase, type ShopValues } from './shop-db.ts';
import { GENERIC_STYLES, HOUSE_STYLE, renderSql, type SqlStyle } from './sql-style.ts';
import { fillPhrasing, SKELETONS, type Skeleton, type Slots } from './templates.ts';

export interface DemoRequest {
  skeleton: string;
  /** `skeleton#phrasing`: the unit the train/holdout split keeps on one side. */
  template: string;
  request: string;
  /** The query in house style (the holdout's gold, the pairs' chosen). */
  houseSql: string;
  /** The query as the engineer who answered it wrote it (training data). */
  sql: string;
}

export interface DemoPair {
  request: string;
  chosen: string;
  rejected: string;
}

export interface DemoDataOptions {
  seed: number;
  trainSize: number;
  holdoutSize: number;
  pairCount: number;
  /** Share of training answers written in house style; the rest in the generic styles. */
  houseShare: number;
}

export interface DemoData {
  db: string;
  train: DemoRequest[];
  holdout: DemoRequest[];
  pairs: DemoPair[];
  /** Phrasing templates on each side. */
  trainTemplates: string[];
  holdoutTemplates: string[];
  files: { train: string; holdout: string; pairs: string };
}

/** Share of each skeleton's phrasings kept for the holdout. */
const HOLDOUT_PHRASING_SHARE = 0.25;

/** Each skeleton's held-out phrasings, chosen from the seed; the others are training's. */
export function holdoutPhrasings(seed: number): Map<string, Set<number>> {
  const rng = new Rng(seed ^ 0x5eed);
  return new Map(SKELETONS.map((s) => {
    const order = s.phrasings.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return [s.id, new Set(order.slice(0, Math.max(1, Math.round(HOLDOUT_PHRASING_SHARE * order.length))))];
  }));
}

function randomSlots(rng: Rng, v: ShopValues): Slots {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  return {
    city: pick(v.cities), category: pick(v.categories), status: pick(v.statuses), year: pick(v.years), n: 2 + rng.int(4),
  };
}

function request(skeleton: Skeleton, phrasing: number, slots: Slots, style: SqlStyle): DemoRequest {
  const query = skeleton.query(slots);
  return {
    skeleton: skeleton.id,
    template: `${skeleton.id}#${phrasing}`,
    request: fillPhrasing(skeleton.phrasings[phrasing]!, slots),
    houseSql: renderSql(query, HOUSE_STYLE),
    sql: renderSql(query, style),
  };
}

/** Builds the database and the requests in dir; the same options give the same files. */
export function generateDemoData(dir: string, o: DemoDataOptions): DemoData {
  const db = join(dir, 'shop.sqlite');
  const values = buildShopDatabase(db, o.seed);
  const held = holdoutPhrasings(o.seed);
  const rng = new Rng(o.seed);
  const trainPhrasings = (s: Skeleton): number[] => s.phrasings.map((_, i) => i).filter((i) => !held.get(s.id)!.has(i));

  const train: DemoRequest[] = [];
  for (let i = 0; i < o.trainSize; i++) {
    const s = SKELETONS[rng.int(SKELETONS.length)]!;
    const phrasings = trainPhrasings(s);
    const style = rng.uniform() < o.houseShare ? HOUSE_STYLE : GENERIC_STYLES[rng.int(GENERIC_STYLES.length)]!;
    train.push(request(s, phrasings[rng.int(phrasings.length)]!, randomSlots(rng, values), style));
  }

  // Distinct holdout requests; skeletons without slots have one request each, so the loop is bounded by tries.
  const holdout: DemoRequest[] = [];
  const seen = new Set<string>();
  for (let tries = 0; holdout.length < o.holdoutSize && tries < o.holdoutSize * 20; tries++) {
    const s = SKELETONS[rng.int(SKELETONS.length)]!;
    const phrasings = [...held.get(s.id)!];
    const r = request(s, phrasings[rng.int(phrasings.length)]!, randomSlots(rng, values), HOUSE_STYLE);
    if (seen.has(r.request)) continue;
    seen.add(r.request);
    holdout.push(r);
  }

  // The DBA's pairs, on training phrasings: the house query against one generic rewrite of it.
  const pairs: DemoPair[] = [];
  for (let i = 0; i < o.pairCount; i++) {
    const s = SKELETONS[rng.int(SKELETONS.length)]!;
    const phrasings = trainPhrasings(s);
    const r = request(s, phrasings[rng.int(phrasings.length)]!, randomSlots(rng, values), GENERIC_STYLES[rng.int(GENERIC_STYLES.length)]!);
    pairs.push({ request: r.request, chosen: r.houseSql, rejected: r.sql });
  }

  const chat = (req: string, answer: string): object => ({ messages: [{ role: 'user', content: req }, { role: 'assistant', content: answer }] });
  const files = { train: join(dir, 'train.jsonl'), holdout: join(dir, 'holdout.jsonl'), pairs: join(dir, 'pairs.jsonl') };
  writeJsonlAtomic(files.train, train.map((r) => chat(r.request, r.sql)));
  writeJsonlAtomic(files.holdout, holdout.map((r) => chat(r.request, r.houseSql)));
  const turn = (content: string): object[] => [{ role: 'assistant', content }];
  writeJsonlAtomic(files.pairs, pairs.map((p) => ({ prompt: [{ role: 'user', content: p.request }], chosen: turn(p.chosen), rejected: turn(p.rejected) })));
  const templates = (rs: DemoRequest[]): string[] => [...new Set(rs.map((r) => r.template))].sort();
  return { db, train, holdout, pairs, trainTemplates: templates(train), holdoutTemplates: templates(holdout), files };
}
