// The SQL a completion answers with: the body of its first markdown code fence if it has one, cut at the end of the
// first statement (a model often adds a second statement or prose after a ';', which would fail the whole answer).

import { skipQuotedOrComment } from '../eval/sql-compare.ts';

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
    if (sql[i] === ';') return sql.slice(0, i);
    const skipped = skipQuotedOrComment(sql, i);
    i = skipped === -1 ? i + 1 : skipped;
  }
  return sql;
}
