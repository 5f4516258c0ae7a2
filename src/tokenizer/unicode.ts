// Unicode helpers for GGUF tokenizers, ported from llama.cpp's unicode.cpp: code-point flags, the byte<->unicode map of byte-level BPE, and the pre-tokeniser regex split.

const UNDEFINED = 0x0001;
const NUMBER = 0x0002;
const LETTER = 0x0004;
const SEPARATOR = 0x0008;
const ACCENT_MARK = 0x0010;
const PUNCTUATION = 0x0020;
const SYMBOL = 0x0040;
const CONTROL = 0x0080;
const WHITESPACE = 0x0100;
const MAX_CODEPOINTS = 0x110000;

// llama.cpp generates its table with Python's `regex` module; JavaScript's property escapes give the same
// categories (up to the Unicode version each was built with). Unassigned code points are UNDEFINED there.
const CATEGORY_TESTS: ReadonlyArray<[RegExp, number]> = [
  [/\p{N}/u, NUMBER], [/\p{L}/u, LETTER], [/\p{Z}/u, SEPARATOR], [/\p{M}/u, ACCENT_MARK],
  [/\p{P}/u, PUNCTUATION], [/\p{S}/u, SYMBOL], [/\p{Cn}/u, UNDEFINED], [/\p{C}/u, CONTROL],
];
const WHITESPACE_TEST = /\p{White_Space}/u;

let flagCache: Uint16Array | undefined;

/** llama.cpp's unicode_cpt_flags_from_cpt: one category bit plus WHITESPACE; 0 for positions out of range. */
function cptFlags(cp: number): number {
  if (cp < 0 || cp >= MAX_CODEPOINTS) return 0;
  flagCache ??= new Uint16Array(MAX_CODEPOINTS);
  let f = flagCache[cp];
  if (f === 0) {
    const s = String.fromCodePoint(cp);
    for (const [re, bit] of CATEGORY_TESTS) {
      if (re.test(s)) {
        f = bit;
        break;
      }
    }
    if (WHITESPACE_TEST.test(s)) f |= WHITESPACE;
    flagCache[cp] = f;
  }
  return f;
}

const isWhitespace = (f: number): boolean => (f & WHITESPACE) !== 0;
const isLetter = (f: number): boolean => (f & LETTER) !== 0;
const isNumber = (f: number): boolean => (f & NUMBER) !== 0;

/** Code points of a string as llama.cpp sees its UTF-8: a lone surrogate (invalid UTF-8) becomes U+FFFD. */
export function codePoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    out.push(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
  }
  return out;
}

function lowerCodePoint(cp: number): number {
  return String.fromCodePoint(cp).toLowerCase().codePointAt(0)!;
}

// GPT-2's byte-level alphabet: printable bytes map to themselves, the rest to U+0100 onwards.
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const map: string[] = new Array(256);
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(printable(b) ? b : 256 + n++);
  return map;
})();

export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((ch, b) => [ch, b]));

const encoder = new TextEncoder();

/** Maps a word's UTF-8 bytes onto the byte-level alphabet. */
export function byteEncode(word: string): string {
  let out = '';
  for (const b of encoder.encode(word)) out += BYTE_TO_UNICODE[b];
  return out;
}

// Splits each [start, start+len) chunk of code points into pieces; returns the pieces' lengths in order.
type Splitter = (cpts: readonly number[], offsets: readonly number[]) => number[];

// A custom splitter scans one chunk with a cursor; these helpers read code points and flags inside the chunk only.
function customSplit(
  cpts: readonly number[],
  offsets: readonly number[],
  scan: (get: (pos: number) => number, flags: (pos: number) => number, ini: number, end: number, add: (end: number) => number) => void,
): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const ini = start;
    const end = start + offset;
    start = end;
    const get = (pos: number): number => (pos >= ini && pos < end ? cpts[pos] : OUT_OF_RANGE);
    const flags = (pos: number): number => (pos >= ini && pos < end ? cptFlags(cpts[pos]) : 0);
    let prevEnd = ini;
    const add = (e: number): number => {
      const len = e - prevEnd;
      if (len > 0) out.push(len);
      prevEnd = e;
      return len;
    };
    scan(get, flags, ini, end, add);
  }
  return out;
}

const OUT_OF_RANGE = 0xffffffff;
const QUOTE = 0x27;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const ch = (c: string): number => c.charCodeAt(0);

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  (unicode_regex_split_custom_gpt2)
const splitGpt2: Splitter = (cpts, offsets) =>
  customSplit(cpts, offsets, (get, flagsAt, ini, end, add) => {
    for (let pos = ini; pos < end; ) {
      const cpt = get(pos);
      const flags = flagsAt(pos);
      if (cpt === QUOTE && pos + 1 < end) {
        const next = get(pos + 1);
        if (next === ch('s') || next === ch('t') || next === ch('m') || next === ch('d')) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const next2 = get(pos + 2);
          if ((next === ch('r') && next2 === ch('e')) || (next === ch('v') && next2 === ch('e')) || (next === ch('l') && next2 === ch('l'))) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      let flags2 = cpt === SPACE ? flagsAt(pos + 1) : flags;
      if (isLetter(flags2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isLetter(flags2)) flags2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      if (isNumber(flags2)) {
        pos += cpt === SPACE ? 1 : 0;
        while (isNumber(flags2)) flags2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      if (!(isWhitespace(flags2) || isLetter(flags2) || isNumber(flags2)) && flags2 !== 0) {
        pos += cpt === SPACE ? 1 : 0;
        while (!(isWhitespace(flags2) || isLetter(flags2) || isNumber(flags2)) && flags2 !== 0) flags2 = flagsAt(++pos);
        add(pos);
        continue;
      }
      let numWhitespaces = 0;
      while (isWhitespace(flagsAt(pos + numWhitespaces))) numWhitespaces++;
      if (numWhitespaces > 1 && get(pos + numWhitespaces) !== OUT_OF_RANGE) {
        pos += numWhitespaces - 1;
        add(pos);
        continue;
      }
      if (numWhitespaces > 0) {
        pos += numWhitespaces;
        add(pos);
        continue;
      }
      add(++pos);
    }
  });

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (unicode_regex_split_custom_llama3; kept bug-for-bug, e.g. the `flags` in the punctuation test)
const splitLlama3: Splitter = (cpts, offsets) =>
  customSplit(cpts, offsets, (get, flagsAt, ini, end, add) => {
    for (let pos = ini; pos < end; ) {
      const cpt = get(pos);
      const flags = flagsAt(pos);
      if (cpt === QUOTE && pos + 1 < end) {
        const next = lowerCodePoint(get(pos + 1));
        if (next === ch('s') || next === ch('t') || next === ch('m') || next === ch('d')) {
          pos += add(pos + 2);
          continue;
        }
        if (pos + 2 < end) {
          const next2 = lowerCodePoint(get(pos + 2));
          if ((next === ch('r') && next2 === ch('e')) || (next === ch('v') && next2 === ch('e')) || (next === ch('l') && next2 === ch('l'))) {
            pos += add(pos + 3);
            continue;
          }
        }
      }
      if (!(cpt === CR || cpt === LF || isNumber(flags))) {
        if (isLetter(flags) || isLetter(flagsAt(pos + 1))) {
          pos++;
          while (isLetter(flagsAt(pos))) pos++;
          add(pos);
          continue;
        }
      }
      if (isNumber(flags)) {
        let numIni = pos;
        while (isNumber(flagsAt(pos))) {
          if (++pos - numIni >= 3) {
            add(pos);
            numIni = pos;
          }
        }
        add(pos);
        continue;
      }
      let flags2 = cpt === SPACE ? flagsAt(pos + 1) : flags;
      if (!(isWhitespace(flags2) || isLetter(flags2) || isNumber(flags2)) && flags !== 0) {
        pos += cpt === SPACE ? 1 : 0;
        while (!(isWhitespace(flags2) || isLetter(flags2) || isNumber(flags2)) && flags2 !== 0) flags2 = flagsAt(++pos);
        let cpt2 = get(pos);
        while (cpt2 === CR || cpt2 === LF) cpt2 = get(++pos);
        add(pos);
        continue;
      }
      let numWhitespaces = 0;
      let lastEndROrN = 0;
      while (isWhitespace(flagsAt(pos + numWhitespaces))) {
        const cpt2 = get(pos + numWhitespaces);
        if (cpt2 === CR || cpt2 === LF) lastEndROrN = pos + numWhitespaces + 1;
        numWhitespaces++;
      }
      if (lastEndROrN > 0) {
        pos = lastEndROrN;
        add(pos);
        continue;
      }
      if (numWhitespaces > 1 && get(pos + numWhitespaces) !== OUT_OF_RANGE) {
        pos += numWhitespaces - 1;
        add(pos);
        continue;
      }
      if (numWhitespaces > 0) {
        pos += numWhitespaces;
        add(pos);
        continue;
      }
      add(++pos);
    }
  });

// Regexes without a custom splitter run as llama.cpp runs them through std::regex: on a "collapsed" text in
// which every code point >= 128 becomes one stand-in character for its category, with \p{..} rewritten to match
// those stand-ins plus their ASCII members. Reproducing that (rather than using JS's Unicode classes directly)
// keeps even its quirks, e.g. \s matching only ASCII whitespace and the stand-in for non-ASCII whitespace.
const UCAT: Readonly<Record<string, number>> = {
  '\\p{N}': NUMBER, '\\p{L}': LETTER, '\\p{P}': PUNCTUATION, '\\p{M}': ACCENT_MARK, '\\p{S}': SYMBOL,
  '\\p{Lu}': LETTER, '\\p{Ll}': LETTER, '\\p{Lt}': LETTER, '\\p{Lm}': LETTER, '\\p{Lo}': LETTER,
};
const UCAT_STAND_IN: Readonly<Record<number, string>> = {
  [NUMBER]: '\u00d1', [LETTER]: '\u00d2', [PUNCTUATION]: '\u00d3', [ACCENT_MARK]: '\u00d4', [SYMBOL]: '\u00d5',
};
const UCAT_ASCII: Readonly<Record<number, string>> = {
  [NUMBER]: '0-9', [LETTER]: 'A-Za-z', [PUNCTUATION]: '!-#%-*,-/:-;?-@\\[-\\]_\\{\\}', [ACCENT_MARK]: '', [SYMBOL]: '\\$\\+<->\\^`\\|',
};
const OTHER_STAND_IN = '\u00d0';
const WHITESPACE_STAND_IN = '\u000b';

function usesCategories(expr: string): boolean {
  return Object.keys(UCAT).some((k) => expr.includes(k));
}

function collapseText(cpts: readonly number[]): string {
  let out = '';
  for (const cp of cpts) {
    if (cp < 128) {
      out += String.fromCharCode(cp);
      continue;
    }
    const f = cptFlags(cp);
    out += isWhitespace(f) ? WHITESPACE_STAND_IN : (UCAT_STAND_IN[f & 0xff] ?? OTHER_STAND_IN);
  }
  return out;
}

function collapseRegex(expr: string): string {
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    if (expr[i] === '[' && (i === 0 || expr[i - 1] !== '\\')) {
      out += '[';
      inside = true;
      continue;
    }
    if (inside && expr[i] === ']' && expr[i - 1] !== '\\') {
      out += ']';
      inside = false;
      continue;
    }
    if (expr[i] === '\\' && i + 3 < expr.length && expr[i + 1] === 'p' && expr[i + 2] === '{') {
      const close = expr.indexOf('}', i + 3);
      if (close !== -1 && close <= i + 10) {
        const cat = UCAT[expr.slice(i, close + 1)];
        if (cat !== undefined) {
          const cls = UCAT_STAND_IN[cat] + UCAT_ASCII[cat];
          out += inside ? cls : `[${cls}]`;
          i = close;
          continue;
        }
      }
    }
    out += expr[i];
  }
  return out;
}

// Splits every chunk by a regex, keeping the text between matches as pieces too (unicode_regex_split_stl).
// `text` must hold one UTF-16 unit per code point so that match indices are code-point offsets.
function regexSplitChunks(text: string, re: RegExp, offsets: readonly number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const offset of offsets) {
    const chunk = text.slice(start, start + offset);
    re.lastIndex = 0;
    let startIdx = 0;
    for (let m = re.exec(chunk); m !== null; m = re.exec(chunk)) {
      if (m.index > startIdx) out.push(m.index - startIdx);
      out.push(m[0].length);
      startIdx = m.index + m[0].length;
      if (m[0].length === 0) re.lastIndex++;
    }
    if (startIdx < offset) out.push(offset - startIdx);
    start += offset;
  }
  return out.filter((n) => n > 0);
}

const GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The regex lists llama.cpp's llm_tokenizer_bpe uses, for the pre-tokeniser families supported here. */
export const PRE_TOKENIZER_REGEXES = {
  default: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2_REGEX, '\\p{N}+', '[0-9][0-9][0-9]'],
  gpt2: [GPT2_REGEX],
  llama3: [LLAMA3_REGEX],
  qwen2: [QWEN2_REGEX],
} as const satisfies Record<string, readonly string[]>;

export type PreTokenizer = keyof typeof PRE_TOKENIZER_REGEXES;

/** llama.cpp's unicode_regex_split: pre-tokenise text into words, each already mapped to the byte-level alphabet. */
export function preTokenize(text: string, pre: PreTokenizer): string[] {
  const cpts = codePoints(text);
  let offsets: number[] = [cpts.length];
  let collapsed: string | undefined;
  let wide: string | undefined;
  for (const expr of PRE_TOKENIZER_REGEXES[pre]) {
    if (expr === GPT2_REGEX) offsets = splitGpt2(cpts, offsets);
    else if (expr === LLAMA3_REGEX) offsets = splitLlama3(cpts, offsets);
    else if (usesCategories(expr)) {
      collapsed ??= collapseText(cpts);
      offsets = regexSplitChunks(collapsed, new RegExp(collapseRegex(expr), 'g'), offsets);
    } else {
      // std::wregex's \s misses non-ASCII whitespace, so llama.cpp swaps it for \v. The one regex of this kind
      // here matches ASCII digits only, so a code point beyond the BMP may stand in as one UTF-16 unit.
      wide ??= cpts.map((cp) => (cp > 0x7f && isWhitespace(cptFlags(cp)) ? WHITESPACE_STAND_IN : cp > 0xffff ? OTHER_STAND_IN : String.fromCharCode(cp))).join('');
      offsets = regexSplitChunks(wide, new RegExp(expr, 'g'), offsets);
    }
  }
  const words: string[] = [];
  let start = 0;
  for (const len of offsets) {
    let word = '';
    for (let i = start; i < start + len; i++) word += String.fromCodePoint(cpts[i]);
    words.push(byteEncode(word));
    start += len;
  }
  return words;
}
