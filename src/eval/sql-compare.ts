// Comparing SQL result sets: canonical row keys (numbers normalised), multiset or ordered equality, top-level ORDER BY detection.

/** Significant digits kept when comparing real numbers: AVG(x) and SUM(x)/COUNT(x) may differ in the last bits. */
const DIGITS = 12;

/** A value in canonical, typed form: 1, 1.0 and 1n agree; the number 1 and the text '1' do not. */
function canonical(v: unknown): string {
  if (v === null || v === undefined) return 'n';
  // Integers stay exact (13-digit ids must not merge); only fractions are rounded.
  if (typeof v === 'number') return Number.isInteger(v) || !Number.isFinite(v) ? `f${v}` : `f${Number(v.toPrecision(DIGITS))}`;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? `f${Number(v)}` : `f${v}`;
  if (typeof v === 'string') return `s${v}`;
  if (v instanceof Uint8Array) return `b${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  return `?${String(v)}`;
}

/** One row (values in column order) as a string that equal rows, and only equal rows, share. */
export function rowKey(row: readonly unknown[]): string {
  return JSON.stringify(row.map(canonical));
}

/** Same rows in the same order (ordered), or the same multiset of rows. */
export function sameResult(gold: readonly string[], predicted: readonly string[], ordered: boolean): boolean {
  if (gold.length !== predicted.length) return false;
  if (ordered) return gold.every((k, i) => k === predicted[i]);
  const counts = new Map<string, number>();
  for (const k of gold) counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const k of predicted) {
    const c = counts.get(k);
    if (c === undefined || c === 0) return false;
    counts.set(k, c - 1);
  }
  return true;
}

/**
 * Where a string literal, quoted name or comment starting at i ends (the index after it), or -1 when none starts
 * there: what SQL scanners skip so that a ';', a parenthesis or a keyword inside one does not count.
 */
export function skipQuotedOrComment(sql: string, i: number): number {
  const c = sql[i];
  if (c === "'" || c === '"' || c === '`' || c === '[') {
    const close = c === '[' ? ']' : c;
    let j = i + 1;
    // A doubled quote inside a literal is an escaped quote, not its end.
    while (j < sql.length && !(sql[j] === close && sql[j + 1] !== close)) j += sql[j] === close ? 2 : 1;
    return j + 1;
  }
  if (c === '-' && sql[i + 1] === '-') {
    const nl = sql.indexOf('\n', i);
    return nl === -1 ? sql.length : nl + 1;
  }
  if (c === '/' && sql[i + 1] === '*') {
    const end = sql.indexOf('*/', i + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return -1;
}

/**
 * Whether the statement ends in an ORDER BY that orders its result: one outside every parenthesis
 * (so not a subquery's, nor a window's `OVER (ORDER BY …)`), string literal, quoted name or comment.
 */
export function hasTopLevelOrderBy(sql: string): boolean {
  let depth = 0;
  let prevWord = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    const skipped = skipQuotedOrComment(sql, i);
    if (skipped !== -1) {
      if (c !== '-' && c !== '/') prevWord = '';
      i = skipped;
    } else if (c === '(' || c === ')') {
      depth += c === '(' ? 1 : -1;
      i++;
      prevWord = '';
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (depth === 0 && prevWord === 'ORDER' && word === 'BY') return true;
      prevWord = word;
      i = j;
    } else {
      i++;
    }
  }
  return false;
}
