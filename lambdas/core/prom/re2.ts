/**
 * Translates the RE2 (Go regexp) syntax Prometheus uses for =~ and !~ into an equivalent
 * JavaScript RegExp, fully anchored as Prometheus 3 anchors it: ^(?s:re)$, so '.' matches a
 * newline too (Prometheus 2 used ^(?:re)$, where it did not).
 *
 * Covered: everything both dialects share, plus RE2's leading flag groups (?i) (?s) (?m),
 * (?P<name>...), \A \z \Q...\E, \pX / \p{Greek}, \x{...}, octal escapes, POSIX classes
 * ([[:alpha:]]), escaped punctuation, literal '{' and a leading ']' in classes.
 * Rejected with a reason: constructs RE2 itself rejects (lookaround, backreferences) and the
 * few RE2 features JavaScript cannot express here (ungreedy flag, flags in mid-pattern, \C).
 */

export class Re2SyntaxError extends Error {}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** RE2's \s is ASCII whitespace without \v. */
const RE2_SPACE = '\\t\\n\\f\\r ';

const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/');
const GENERAL_CATEGORIES = new Set(
  'C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(' '),
);

function isAlnum(c: string): boolean {
  return /^[0-9A-Za-z]$/.test(c);
}

function codePointEscape(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

function escapeLiteral(text: string, inClass: boolean): string {
  let out = '';
  for (const ch of text) {
    if (JS_SYNTAX.has(ch) || (inClass && ch === '-')) out += '\\' + ch;
    else out += ch;
  }
  return out;
}

interface Translated {
  readonly source: string;
  readonly flags: string;
}

/** Translates an RE2 pattern; throws Re2SyntaxError naming what is not supported. */
export function translateRe2(pattern: string): Translated {
  let flags = '';
  let i = 0;
  // Leading flag groups: (?i), (?s), (?is) ... apply to the whole (anchored) pattern.
  for (;;) {
    const m = /^\(\?([imsU]+)\)/.exec(pattern.slice(i));
    if (!m) break;
    for (const f of m[1]!) {
      if (f === 'U') throw new Re2SyntaxError('the ungreedy flag (?U) is not supported');
      if (!flags.includes(f)) flags += f;
    }
    i += m[0].length;
  }
  const p = pattern;
  let out = '';
  let inClass = false;
  /** Position right after '[' or '[^' (where ']' is literal in RE2). */
  let classStart = -1;

  const escape = (at: number): [string, number] => {
    // p[at] === '\\'; returns [translation, next index].
    const c = p[at + 1];
    if (c === undefined) throw new Re2SyntaxError('trailing backslash');
    switch (c) {
      case 'd':
      case 'D':
      case 'w':
      case 'W':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
        return ['\\' + c, at + 2];
      case 'b':
      case 'B':
        if (inClass) throw new Re2SyntaxError(`\\${c} inside a character class`);
        return ['\\' + c, at + 2];
      case 's':
        return [inClass ? RE2_SPACE : `[${RE2_SPACE}]`, at + 2];
      case 'S':
        if (inClass) throw new Re2SyntaxError('\\S inside a character class is not supported');
        return [`[^${RE2_SPACE}]`, at + 2];
      case 'a':
        return ['\\x07', at + 2];
      case 'A':
        if (inClass) throw new Re2SyntaxError('\\A inside a character class');
        return ['(?<![\\s\\S])', at + 2];
      case 'z':
        if (inClass) throw new Re2SyntaxError('\\z inside a character class');
        return ['(?![\\s\\S])', at + 2];
      case 'Q': {
        const end = p.indexOf('\\E', at + 2);
        const literal = end < 0 ? p.slice(at + 2) : p.slice(at + 2, end);
        return [escapeLiteral(literal, inClass), end < 0 ? p.length : end + 2];
      }
      case 'x': {
        if (p[at + 2] === '{') {
          const end = p.indexOf('}', at + 3);
          const hex = end < 0 ? '' : p.slice(at + 3, end);
          if (!/^[0-9A-Fa-f]{1,8}$/.test(hex) || parseInt(hex, 16) > 0x10ffff) {
            throw new Re2SyntaxError(`invalid escape \\x{${hex}}`);
          }
          return [codePointEscape(parseInt(hex, 16)), end + 1];
        }
        const hex = p.slice(at + 2, at + 4);
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Re2SyntaxError(`invalid escape \\x${hex}`);
        return ['\\x' + hex, at + 4];
      }
      case 'p':
      case 'P': {
        let name: string;
        let next: number;
        if (p[at + 2] === '{') {
          const end = p.indexOf('}', at + 3);
          if (end < 0) throw new Re2SyntaxError(`unterminated \\${c}{`);
          name = p.slice(at + 3, end);
          next = end + 1;
        } else {
          name = p[at + 2] ?? '';
          next = at + 3;
        }
        let negate = c === 'P';
        if (name.startsWith('^')) {
          negate = !negate;
          name = name.slice(1);
        }
        if (!/^[A-Za-z_]+$/.test(name)) throw new Re2SyntaxError(`invalid Unicode class \\${c}{${name}}`);
        if (name === 'Any') {
          if (negate) return [inClass ? '' : '[^\\s\\S]', next];
          return [inClass ? '\\s\\S' : '[\\s\\S]', next];
        }
        const prop = GENERAL_CATEGORIES.has(name) ? name : `Script=${name}`;
        try {
          new RegExp(`\\p{${prop}}`, 'u');
        } catch {
          throw new Re2SyntaxError(`unknown Unicode class ${name}`);
        }
        return [`\\${negate ? 'P' : 'p'}{${prop}}`, next];
      }
      case 'C':
        throw new Re2SyntaxError('\\C (any byte) is not supported');
      default:
        break;
    }
    if (c >= '0' && c <= '7') {
      // Octal: \0, \0N, \0NN, or \NN[N] (a single non-zero digit would be a backreference).
      let j = at + 1;
      if (c !== '0' && !(p[at + 2]! >= '0' && p[at + 2]! <= '7')) {
        throw new Re2SyntaxError(`backreference \\${c} is not supported by RE2`);
      }
      let v = 0;
      for (let k = 0; k < 3 && p[j]! >= '0' && p[j]! <= '7'; k++, j++) v = v * 8 + (p.charCodeAt(j) - 48);
      return [codePointEscape(v), j];
    }
    if (c === '8' || c === '9') throw new Re2SyntaxError(`backreference \\${c} is not supported by RE2`);
    const cp = p.codePointAt(at + 1)!;
    if (cp < 0x80 && !isAlnum(c)) {
      // Escaped punctuation: a literal.
      return [escapeLiteral(c, inClass), at + 2];
    }
    throw new Re2SyntaxError(`invalid escape sequence \\${String.fromCodePoint(cp)}`);
  };

  while (i < p.length) {
    const c = p[i]!;
    if (inClass) {
      if (c === ']' && i !== classStart) {
        inClass = false;
        out += ']';
        i++;
      } else if (c === ']') {
        out += '\\]';
        i++;
      } else if (c === '[' && p[i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(i));
        if (!m) {
          out += '\\[';
          i++;
          continue;
        }
        const cls = POSIX_CLASSES[m[2]!];
        if (cls === undefined) throw new Re2SyntaxError(`unknown POSIX class [:${m[2]}:]`);
        if (m[1]) throw new Re2SyntaxError(`negated POSIX class [:^${m[2]}:] is not supported`);
        out += cls;
        i += m[0].length;
      } else if (c === '[') {
        out += '\\[';
        i++;
      } else if (c === '\\') {
        const [t, next] = escape(i);
        out += t;
        i = next;
      } else {
        out += c;
        i++;
      }
      continue;
    }
    switch (c) {
      case '[':
        inClass = true;
        out += '[';
        i++;
        if (p[i] === '^') {
          out += '^';
          i++;
        }
        classStart = i;
        break;
      case '\\': {
        const [t, next] = escape(i);
        out += t;
        i = next;
        break;
      }
      case '(': {
        if (p[i + 1] !== '?') {
          out += '(';
          i++;
          break;
        }
        const rest = p.slice(i);
        let m: RegExpExecArray | null;
        if (rest.startsWith('(?:')) {
          out += '(?:';
          i += 3;
        } else if ((m = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest))) {
          out += `(?<${m[1]}>`;
          i += m[0].length;
        } else if (/^\(\?(=|!|<=|<!)/.test(rest)) {
          throw new Re2SyntaxError('lookahead and lookbehind are not supported by RE2');
        } else if (/^\(\?[-imsU]+[:)]/.test(rest)) {
          throw new Re2SyntaxError('flags are only supported as a group at the start, e.g. (?i)abc');
        } else {
          throw new Re2SyntaxError(`invalid group ${rest.slice(0, 4)}`);
        }
        break;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
        if (m && out !== '' && !/[|(]$/.test(out)) {
          const lo = Number(m[1]);
          const hi = m[3] ? Number(m[3]) : lo;
          if (lo > 1000 || hi > 1000) throw new Re2SyntaxError(`repeat count ${m[0]} exceeds 1000`);
          out += m[0];
          i += m[0].length;
        } else {
          out += '\\{';
          i++;
        }
        break;
      }
      case '}':
        out += '\\}';
        i++;
        break;
      default: {
        const cp = p.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        out += ch;
        i += ch.length;
      }
    }
  }
  if (inClass) throw new Re2SyntaxError('missing closing ]');
  return { source: out, flags };
}

/** The JavaScript RegExp Prometheus 3's anchored matcher regexp corresponds to. */
export function compileAnchoredRe2(pattern: string): RegExp {
  const { source, flags } = translateRe2(pattern);
  // With (?m), ^ and $ would match at line ends; anchor on the whole text regardless.
  const open = flags.includes('m') ? '(?<![\\s\\S])' : '^';
  const close = flags.includes('m') ? '(?![\\s\\S])' : '$';
  // Prometheus 3 compiles every matcher with (?s): 's' is on whatever the pattern says.
  const dotAll = flags.includes('s') ? '' : 's';
  try {
    return new RegExp(`${open}(?:${source})${close}`, flags + dotAll + 'u');
  } catch (err) {
    throw new Re2SyntaxError((err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, ''));
  }
}
