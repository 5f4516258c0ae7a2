// Token → character offsets: walks each token's exact bytes along the UTF-8 bytes of the text it came from, so loss masks can be cut by character spans.

export interface TokenPiece {
  /** The token's bytes; null for a token that is not in the text (a BOS the tokenizer prepends). */
  bytes: Uint8Array | null;
  /** An added/special token: the text on either side of it is tokenised as a separate run. */
  special: boolean;
  /** The special token swallows the whitespace before it (HF's lstrip). */
  lstrip?: boolean;
  /** The special token swallows the whitespace after it (HF's rstrip, llama.cpp's ATTR_RSTRIP). */
  rstrip?: boolean;
}

export type UnicodeForm = 'NFC' | 'NFD' | 'NFKC' | 'NFKD';

export interface AlignOptions {
  /** The tokenizer may prefix a space to each run of text (SentencePiece's dummy prefix); that space maps to an empty range. */
  prefixSpace: boolean;
  /** Unicode normalisation the tokenizer applies before tokenising. */
  normalize?: UnicodeForm;
  /** What lstrip/rstrip count as whitespace (default: JavaScript's \s, as HF's trim). */
  isStripSpace?: (c: string) => boolean;
}

/** Where a text's normalised form comes from: for each UTF-16 boundary of the normalised text, the original's. */
interface Normalised {
  text: string;
  /** Original position of a range that starts at normalised position p (rounded down to whole original characters). */
  startAt: (p: number) => number;
  /** Original position of a range that ends at normalised position p (rounded up). */
  endAt: (p: number) => number;
}

// A base character with the marks (and Hangul vowel/final jamo) that can compose onto it: normalising each such
// cluster on its own gives the same text as normalising the whole, which is checked below rather than assumed.
const CLUSTER = /[\u1160-\u11FF\uD7B0-\uD7FF\p{M}]+|[^\u1160-\u11FF\uD7B0-\uD7FF\p{M}][\u1160-\u11FF\uD7B0-\uD7FF\p{M}]*/gsu;

function normalise(text: string, form: UnicodeForm | undefined): Normalised {
  const identity = (p: number): number => p;
  if (form === undefined || text.normalize(form) === text) return { text, startAt: identity, endAt: identity };
  const parts: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  let at = 0;
  for (const m of text.matchAll(CLUSTER)) {
    const n = m[0].normalize(form);
    parts.push(n);
    for (let i = 0; i < n.length; i++) {
      starts.push(m.index);
      ends.push(m.index + m[0].length);
    }
    at += n.length;
  }
  const norm = parts.join('');
  if (norm !== text.normalize(form)) throw new Error(`cannot map ${form}-normalised text back to the original characters`);
  return {
    text: norm,
    startAt: (p) => (p >= at ? text.length : starts[p]!),
    endAt: (p) => (p <= 0 ? 0 : ends[p - 1]!),
  };
}

const utf8 = new TextEncoder();
const isSpace = (s: string): boolean => /^\s$/u.test(s);

/**
 * UTF-16 [start, end) ranges into `text` for each token. A character belongs to the token holding its first
 * byte; a token made only of the remaining bytes of a character (byte-level BPE splits emoji) gets an empty
 * range where that character ends, so consecutive ranges tile the text. Throws when the tokens' bytes do not
 * spell the text: a wrong offset would silently put the loss on the wrong tokens.
 */
export function alignOffsets(text: string, pieces: readonly TokenPiece[], opts: AlignOptions): [number, number][] {
  const norm = normalise(text, opts.normalize);
  const bytes = utf8.encode(norm.text);
  // For each byte that starts a character: that character's length in UTF-16 units (0 for continuation bytes).
  const units = new Uint8Array(bytes.length);
  const chars: string[] = [];
  {
    let b = 0;
    for (const c of norm.text) {
      units[b] = c.length;
      chars[b] = c;
      b += utf8.encode(c).length;
    }
  }
  let pos = 0; // bytes of the text consumed
  let char = 0; // UTF-16 position after the last character given to a token
  const offsets: [number, number][] = [];
  const fail = (i: number, why: string): never => {
    throw new Error(`token ${i} does not match the text at character ${norm.startAt(char)} (${why}): cannot compute offsets`);
  };
  const take = (): void => {
    char += units[pos]!;
    pos++;
  };
  const isStripSpace = opts.isStripSpace ?? isSpace;
  // Whitespace that a special token strips is in the text but in no token: it joins that token's range.
  const skipStripped = (): void => {
    while (pos < bytes.length && isStripSpace(chars[pos]!)) {
      const n = utf8.encode(chars[pos]!).length;
      for (let j = 0; j < n; j++) take();
    }
  };

  let runStart = true;
  let stripAfter = false;
  pieces.forEach((piece, i) => {
    const p = piece.bytes;
    if (p === null) {
      offsets.push([char, char]);
      return;
    }
    if (stripAfter) {
      skipStripped();
      offsets[offsets.length - 1]![1] = char;
      stripAfter = false;
    }
    const start = char;
    if (piece.special) {
      if (piece.lstrip === true) skipStripped();
      for (let j = 0; j < p.length; j++) {
        if (bytes[pos] !== p[j]) fail(i, 'special token text not found');
        take();
      }
      offsets.push([start, char]);
      runStart = true;
      stripAfter = piece.rstrip === true;
      return;
    }
    let j = 0;
    if (runStart && opts.prefixSpace && p[0] === 0x20) {
      // Inserted iff the tokens hold one more leading space than the text at this point.
      let tokenSpaces = 0;
      scan: for (let k = i; k < pieces.length && !pieces[k]!.special; k++) {
        for (const b of pieces[k]!.bytes ?? []) {
          if (b !== 0x20) break scan;
          tokenSpaces++;
        }
      }
      let textSpaces = 0;
      while (bytes[pos + textSpaces] === 0x20) textSpaces++;
      if (tokenSpaces > textSpaces) j = 1;
    }
    runStart = false;
    for (; j < p.length; j++) {
      if (bytes[pos] !== p[j]) fail(i, pos >= bytes.length ? 'past the end of the text' : 'different bytes');
      take();
    }
    offsets.push([start, char]);
  });
  if (stripAfter) {
    skipStripped();
    offsets[offsets.length - 1]![1] = char;
  }
  if (pos !== bytes.length) throw new Error(`tokens cover ${pos} of the text's ${bytes.length} bytes: cannot compute offsets`);
  return offsets.map(([s, e]) => [norm.startAt(s), norm.endAt(e)]);
}
