// The SQL a completion answers with: the body of its first markdown code fence if it has one, cut at the end of the
// first statement (a model often adds a second statement or prose after a ';', which would fail the whole answer).

// ```sql … ``` (any or no language tag); a fence the sampling limit cut off runs to the end of the text.
const FENCE = /```[\w+-]*[^\S\n]*\n?([\s\S]*?)(?:```|$)/;

/** The first statement of the completion's SQL, without its ';', trimmed ('' when there is none). */
export function extractSql(completion: string): string {
  const fenced = FENCE.exec(completion);
  return firstStatement(fenced === null ? completion : fenced[1]!).trim();
}

/** Text before the first ';' outside string literals, quoted names and comments. */
function firstStatement(sql: string): string {
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === ';') return sql.slice(0, i);
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      // A doubled quote inside a literal is an escaped quote, not its end.
      while (j < sql.length && !(sql[j] === close && sql[j + 1] !== close)) j += sql[j] === close ? 2 : 1;
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl === -1 ? sql.length : nl + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
    } else {
      i++;
    }
  }
  return sql;
}
