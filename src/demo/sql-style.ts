// The demo's queries as data, written out in the house SQL style or in an engineer's generic one, and the checker
// that says whether a query follows every house rule (what the style step's share counts).

export type Table = 'customers' | 'products' | 'orders' | 'order_items';
export type Col = readonly [Table, string];

/** The house's fixed table aliases. */
export const ALIAS: Record<Table, string> = { customers: 'c', products: 'p', orders: 'o', order_items: 'oi' };

/** Every column of the shop schema: a bare one of these in a query breaks the qualification rule. */
export const COLUMNS = ['id', 'name', 'city', 'joined', 'category', 'price', 'customer_id', 'order_date', 'status', 'order_id', 'product_id', 'quantity'] as const;

export type Select = { col: Col } | { agg: 'COUNT' | 'SUM' | 'AVG'; col?: Col; as: string };

export type Cond =
  | { col: Col; op: '=' | '<' | '>'; value: string | number }
  /** A date column within whole years (from ≤ year ≤ to; to undefined: from that year on). */
  | { col: Col; fromYear: number; toYear?: number };

export interface Query {
  distinct?: boolean;
  select: Select[];
  from: Table;
  joins?: { table: Table; on: readonly [Col, Col] }[];
  where?: Cond[];
  groupBy?: Col;
  /** A column, or the output name of an aggregate in select. */
  orderBy?: { by: Col | string; dir: 'ASC' | 'DESC' };
  limit?: number;
}

/** How one engineer writes SQL. */
export interface SqlStyle {
  /** Keywords in lower case (the house's: the words its people read as English) or upper case. */
  keywords: 'lower' | 'upper';
  /** Tables under their fixed alias, every column qualified by it (else bare, or table-qualified in joins). */
  aliases: boolean;
  /** Aggregates named with AS. */
  aggregateNames: boolean;
  /** Dates as BETWEEN 'YYYY-MM-DD' literals (house) or through strftime. */
  dates: 'literal' | 'strftime';
}

export const HOUSE_STYLE: SqlStyle = { keywords: 'lower', aliases: true, aggregateNames: true, dates: 'literal' };

/** The generic styles of the other engineers whose correct SQL fills the training data beside the house's. */
export const GENERIC_STYLES: readonly SqlStyle[] = [
  { keywords: 'lower', aliases: false, aggregateNames: false, dates: 'strftime' },
  { keywords: 'lower', aliases: false, aggregateNames: true, dates: 'literal' },
  { keywords: 'upper', aliases: true, aggregateNames: true, dates: 'strftime' },
];

const KEYWORDS = ['SELECT', 'DISTINCT', 'FROM', 'JOIN', 'ON', 'WHERE', 'AND', 'BETWEEN', 'GROUP', 'ORDER', 'BY', 'ASC', 'DESC', 'LIMIT', 'AS', 'COUNT', 'SUM', 'AVG'];

function literal(v: string | number): string {
  return typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`;
}

/** The query in the given style; every style gives the same result rows. */
export function renderSql(q: Query, style: SqlStyle): string {
  const kw = (k: string): string => (style.keywords === 'upper' ? k : k.toLowerCase());
  const joined = (q.joins?.length ?? 0) > 0;
  const col = ([t, c]: Col): string => (style.aliases ? `${ALIAS[t]}.${c}` : joined ? `${t}.${c}` : c);
  const table = (t: Table): string => (style.aliases ? `${t} ${ALIAS[t]}` : t);
  const aggExpr = (s: Extract<Select, { agg: string }>): string => `${kw(s.agg)}(${s.col === undefined ? '*' : col(s.col)})`;
  const sel = (s: Select): string => ('agg' in s ? (style.aggregateNames ? `${aggExpr(s)} ${kw('AS')} ${s.as}` : aggExpr(s)) : col(s.col));
  const cond = (c: Cond): string => {
    if ('op' in c) return `${col(c.col)} ${c.op} ${literal(c.value)}`;
    if (style.dates === 'literal')
      return c.toYear === undefined ? `${col(c.col)} >= '${c.fromYear}-01-01'` : `${col(c.col)} ${kw('BETWEEN')} '${c.fromYear}-01-01' ${kw('AND')} '${c.toYear}-12-31'`;
    const year = `strftime('%Y', ${col(c.col)})`;
    if (c.toYear === undefined) return `${year} >= '${c.fromYear}'`;
    return c.toYear === c.fromYear ? `${year} = '${c.fromYear}'` : `${year} ${kw('BETWEEN')} '${c.fromYear}' ${kw('AND')} '${c.toYear}'`;
  };
  const parts = [`${kw('SELECT')}${q.distinct === true ? ` ${kw('DISTINCT')}` : ''} ${q.select.map(sel).join(', ')}`, `${kw('FROM')} ${table(q.from)}`];
  for (const j of q.joins ?? []) parts.push(`${kw('JOIN')} ${table(j.table)} ${kw('ON')} ${col(j.on[0])} = ${col(j.on[1])}`);
  if (q.where !== undefined && q.where.length > 0) parts.push(`${kw('WHERE')} ${q.where.map(cond).join(` ${kw('AND')} `)}`);
  if (q.groupBy !== undefined) parts.push(`${kw('GROUP')} ${kw('BY')} ${col(q.groupBy)}`);
  if (q.orderBy !== undefined) {
    const by = q.orderBy.by;
    let key: string;
    if (typeof by !== 'string') key = col(by);
    else {
      // An aggregate is ordered by its house name, or by repeating the expression where it has none.
      const agg = q.select.find((s): s is Extract<Select, { agg: string }> => 'agg' in s && s.as === by);
      if (agg === undefined) throw new Error(`orderBy ${by}: no aggregate of that name in select`);
      key = style.aggregateNames ? by : aggExpr(agg);
    }
    parts.push(`${kw('ORDER')} ${kw('BY')} ${key} ${kw(q.orderBy.dir)}`);
  }
  if (q.limit !== undefined) parts.push(`${kw('LIMIT')} ${q.limit}`);
  return parts.join(' ');
}

export type HouseRule = 'one-select' | 'keywords' | 'aliases' | 'qualified-columns' | 'explicit-columns' | 'aggregate-names' | 'dates';

/** The house rules a query breaks (none: it is in house style). String literals are not looked into. */
export function houseStyleViolations(sql: string): HouseRule[] {
  const code = sql.replace(/'(?:[^']|'')*'/g, "''");
  const broken = new Set<HouseRule>();
  // One SELECT statement: an empty answer, prose, or a second statement is not house SQL.
  if (!/^\s*SELECT\b/i.test(code) || /;\s*\S/.test(code)) broken.add('one-select');
  const words = code.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  if (words.some((w) => KEYWORDS.includes(w.toUpperCase()) && w !== w.toLowerCase())) broken.add('keywords');
  // Each table right after FROM or JOIN, followed by its own alias (and no AS).
  for (const m of code.matchAll(/\b(?:from|join)\s+([A-Za-z_]\w*)(?:\s+([A-Za-z_]\w*))?/gi)) {
    const alias = ALIAS[m[1]!.toLowerCase() as Table];
    if (alias === undefined || m[2] !== alias) broken.add('aliases');
  }
  // Every column written alias.column: a bare column, or one qualified by a table name, breaks the rule.
  for (const m of code.matchAll(/([A-Za-z_]\w*)\s*\.\s*([A-Za-z_]\w*)|[A-Za-z_]\w*/g)) {
    if (m[1] !== undefined) {
      if (!Object.values(ALIAS).includes(m[1])) broken.add('qualified-columns');
    } else if ((COLUMNS as readonly string[]).includes(m[0])) broken.add('qualified-columns');
  }
  if (/\*/.test(code.replace(/\bCOUNT\s*\(\s*\*\s*\)/gi, ''))) broken.add('explicit-columns');
  for (const m of code.matchAll(/\b(?:COUNT|SUM|AVG|MIN|MAX)\s*\([^)]*\)(\s+AS\s+[A-Za-z_]\w*)?/gi)) if (m[1] === undefined) broken.add('aggregate-names');
  if (/\b(?:strftime|date|datetime|julianday)\s*\(/i.test(code)) broken.add('dates');
  return [...broken];
}

export function isHouseStyle(sql: string): boolean {
  return houseStyleViolations(sql).length === 0;
}
