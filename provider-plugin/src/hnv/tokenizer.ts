/**
 * A tokenizer for the subset of PowerShell that HNV configuration scripts are written in
 * (about_Parsing, about_Quoting_Rules, about_Comment_Based_Help, about_Special_Characters):
 * commands with -Parameter value pairs, quoted and bare values, $variables with member
 * access, (sub)expressions kept as raw text, comma lists, pipelines, `;` and newlines
 * between statements, backtick continuations, # and <# #> comments.
 *
 * Everything carries its 1-based line and column so that an error points at the exact
 * spot. Copy-pasted scripts often hold typographic dashes and quotes; PowerShell accepts
 * them and so do we. Script blocks ({ ... } after Invoke-Command or foreach) are not
 * evaluated: their braces only separate statements, so the HNV lines inside are still seen.
 *
 * A comment that starts with `#nvgw:` is read as a statement: `nvgwctl hnv --export`
 * writes the routing-domain and virtual-subnet details that HNV cmdlets cannot express
 * that way, so the exported script still runs unchanged on Windows.
 */

export type TokenKind = 'word' | 'param' | 'string' | 'variable' | 'subexpr' | 'comma' | 'pipe' | 'op';

export type StringPart = { text: string } | { variable: string; raw: string; line: number; col: number };

export interface Token {
  kind: TokenKind;
  /** The source text of the token. */
  raw: string;
  /**
   * word: the text with backtick escapes resolved; param: the name without its dash;
   * string: the content, unescaped; variable: the name and members without `$`
   * (`iface.InterfaceIndex`); subexpr: the raw text; comma/pipe/op: the operator.
   */
  value: string;
  line: number;
  col: number;
  /** param: a value attached with a colon (-Confirm:$false). */
  attached?: Token;
  /** string: double-quoted, so `$name` inside expands. */
  parts?: StringPart[];
}

export interface Statement {
  tokens: Token[];
  line: number;
  col: number;
  /** Source text from the first token to the end of the last. */
  text: string;
  /** Came from a `#nvgw:` comment. */
  pragma: boolean;
}

export interface Position {
  line: number;
  col: number;
}

export interface LexProblem extends Position {
  message: string;
}

export interface LexResult {
  statements: Statement[];
  errors: LexProblem[];
  notes: LexProblem[];
}

const DASHES = new Set(['-', '\u2013', '\u2014', '\u2015']);
const DOUBLE_QUOTES = new Set(['"', '\u201c', '\u201d', '\u201e']);
const SINGLE_QUOTES = new Set(["'", '\u2018', '\u2019', '\u201a', '\u201b']);
const SPACE = new Set([' ', '\t', '\f', '\v', '\u00a0', '\r', '\ufeff']);
/** Characters that end a bare word in argument mode. */
const WORD_END = new Set([' ', '\t', '\f', '\v', '\u00a0', '\r', '\n', ';', '|', ',', '(', ')', '{', '}']);
const GUID_IN_BRACES = /^\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}/;
const BACKTICK_ESCAPES: Record<string, string> = { '0': '\0', a: '\x07', b: '\b', e: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

export function tokenize(source: string): LexResult {
  return new Lexer(source).run();
}

class Lexer {
  private pos = 0;
  private line = 1;
  private col = 1;
  private readonly statements: Statement[] = [];
  private readonly errors: LexProblem[] = [];
  private readonly notes: LexProblem[] = [];
  private current: Token[] = [];
  private currentStart = 0;
  private currentEnd = 0;
  private pragma = false;

  constructor(private readonly src: string) {}

  run(): LexResult {
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      const next = this.src[this.pos + 1];
      if (SPACE.has(c)) {
        this.advance();
      } else if (c === '\n') {
        this.endStatement();
        this.advance();
      } else if (c === '`' && this.continuation()) {
        continue;
      } else if (c === '#') {
        if (this.current.length === 0 && this.src.startsWith('#nvgw:', this.pos)) {
          this.pragma = true;
          this.advance(6);
        } else {
          while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.advance();
        }
      } else if (c === '<' && next === '#') {
        this.blockComment();
      } else if (c === ';') {
        this.endStatement();
        this.advance();
      } else if (c === '{' && GUID_IN_BRACES.test(this.src.slice(this.pos, this.pos + 38))) {
        this.push(this.word());
      } else if (c === '{' || c === '}') {
        this.endStatement();
        this.advance();
      } else if (c === '|' && next === '|') {
        this.push(this.simple('op', 2));
      } else if (c === '|') {
        this.push(this.simple('pipe', 1));
      } else if (c === ',') {
        this.push(this.simple('comma', 1));
      } else if (c === '&' && next === '&') {
        this.push(this.simple('op', 2));
      } else if (c === '>' || (c === '2' && next === '>')) {
        this.push(this.simple('op', c === '2' ? 2 : next === '>' ? 2 : 1));
      } else {
        const token = this.value();
        if (token) this.push(token);
      }
    }
    this.endStatement();
    return { statements: this.statements, errors: this.errors, notes: this.notes };
  }

  /** A token that can stand where a value goes (also after `-Param:`). */
  private value(): Token | undefined {
    const c = this.src[this.pos]!;
    const next = this.src[this.pos + 1] ?? '';
    if (DOUBLE_QUOTES.has(c)) return this.doubleQuoted();
    if (SINGLE_QUOTES.has(c)) return this.singleQuoted();
    if (c === '$' && next === '(') return this.subexpression(1);
    if (c === '@' && next === '(') return this.subexpression(1);
    if (c === '@' && (DOUBLE_QUOTES.has(next) || SINGLE_QUOTES.has(next))) {
      this.errors.push({ ...this.here(), message: 'here-strings (@" "@) are not supported; use a quoted string' });
      this.skipToLineEnd();
      return undefined;
    }
    if (c === '$' && /[A-Za-z0-9_{?$]/.test(next)) return this.variable();
    if (c === '(') return this.subexpression(0);
    if (c === ')') {
      this.errors.push({ ...this.here(), message: 'unbalanced ")"' });
      this.advance();
      return undefined;
    }
    if (DASHES.has(c) && /[A-Za-z_?]/.test(next)) return this.parameter();
    return this.word();
  }

  private here(): Position {
    return { line: this.line, col: this.col };
  }

  private advance(n = 1): void {
    for (let i = 0; i < n && this.pos < this.src.length; i++) {
      if (this.src[this.pos] === '\n') {
        this.line++;
        this.col = 1;
      } else {
        this.col++;
      }
      this.pos++;
    }
  }

  private push(token: Token): void {
    if (this.current.length === 0) this.currentStart = this.pos - token.raw.length;
    this.current.push(token);
    this.currentEnd = this.pos;
  }

  private endStatement(): void {
    if (this.current.length > 0) {
      const first = this.current[0]!;
      this.statements.push({ tokens: this.current, line: first.line, col: first.col, text: this.src.slice(this.currentStart, this.currentEnd), pragma: this.pragma });
    }
    this.current = [];
    this.pragma = false;
  }

  private simple(kind: TokenKind, length: number): Token {
    const start = this.here();
    const raw = this.src.slice(this.pos, this.pos + length);
    this.advance(length);
    return { kind, raw, value: raw, ...start };
  }

  /**
   * A backtick at the end of a line continues the statement on the next line. PowerShell
   * needs the newline right after the backtick; a trailing space breaks the script on
   * Windows, so we accept it but say so.
   */
  private continuation(): boolean {
    let j = this.pos + 1;
    while (j < this.src.length && (this.src[j] === ' ' || this.src[j] === '\t' || this.src[j] === '\r')) j++;
    if (j < this.src.length && this.src[j] !== '\n') return false;
    const trailing = this.src.slice(this.pos + 1, j).replace(/\r/g, '');
    if (trailing.length > 0) this.notes.push({ ...this.here(), message: 'whitespace after the line-continuation backtick; PowerShell would end the statement here, nvgw continues it' });
    this.advance(j + 1 - this.pos);
    return true;
  }

  private blockComment(): void {
    const start = this.here();
    const end = this.src.indexOf('#>', this.pos + 2);
    if (end < 0) {
      this.errors.push({ ...start, message: 'block comment "<#" is never closed with "#>"' });
      this.advance(this.src.length - this.pos);
      return;
    }
    this.advance(end + 2 - this.pos);
  }

  private skipToLineEnd(): void {
    while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.advance();
  }

  private word(): Token {
    const start = this.here();
    const begin = this.pos;
    let value = '';
    if (this.src[this.pos] === '{') {
      // A GUID in braces, written without quotes.
      const m = GUID_IN_BRACES.exec(this.src.slice(this.pos, this.pos + 38))!;
      value = m[0];
      this.advance(value.length);
    }
    while (this.pos < this.src.length) {
      const c = this.src[this.pos]!;
      if (WORD_END.has(c)) break;
      if (c === '`') {
        const after = this.src[this.pos + 1];
        if (after === undefined || after === '\n' || after === '\r') break;
        value += after;
        this.advance(2);
        continue;
      }
      value += c;
      this.advance();
    }
    if (this.pos === begin) {
      // A lone character the grammar above does not place (e.g. a stray ")"): take it as a word.
      value = this.src[this.pos]!;
      this.advance();
    }
    return { kind: 'word', raw: this.src.slice(begin, this.pos), value, ...start };
  }

  private parameter(): Token {
    const start = this.here();
    const begin = this.pos;
    this.advance(); // the dash
    let name = '';
    while (this.pos < this.src.length && /[A-Za-z0-9_?]/.test(this.src[this.pos]!)) {
      name += this.src[this.pos];
      this.advance();
    }
    const token: Token = { kind: 'param', raw: '', value: name, ...start };
    if (this.src[this.pos] === ':' && this.pos + 1 < this.src.length && !WORD_END.has(this.src[this.pos + 1]!)) {
      this.advance();
      const attached = this.value();
      if (attached) token.attached = attached;
    }
    token.raw = this.src.slice(begin, this.pos);
    return token;
  }

  private variable(): Token {
    const start = this.here();
    const begin = this.pos;
    this.advance(); // $
    let name = '';
    if (this.src[this.pos] === '{') {
      const end = this.src.indexOf('}', this.pos);
      if (end < 0) {
        this.errors.push({ ...start, message: '"${" is never closed with "}"' });
        this.skipToLineEnd();
        return { kind: 'variable', raw: this.src.slice(begin, this.pos), value: '', ...start };
      }
      name = this.src.slice(this.pos + 1, end);
      this.advance(end + 1 - this.pos);
    } else if (this.src[this.pos] === '$' || this.src[this.pos] === '?') {
      name = this.src[this.pos]!;
      this.advance();
    } else {
      while (this.pos < this.src.length && /[A-Za-z0-9_:]/.test(this.src[this.pos]!)) {
        name += this.src[this.pos];
        this.advance();
      }
    }
    // Member access and indexing: $iface.InterfaceIndex, $nics[0].ifIndex
    for (;;) {
      const c = this.src[this.pos];
      if (c === '.' && /[A-Za-z_]/.test(this.src[this.pos + 1] ?? '')) {
        this.advance();
        name += '.';
        while (this.pos < this.src.length && /[A-Za-z0-9_]/.test(this.src[this.pos]!)) {
          name += this.src[this.pos];
          this.advance();
        }
      } else if (c === '[') {
        const end = this.src.indexOf(']', this.pos);
        if (end < 0 || this.src.slice(this.pos, end).includes('\n')) break;
        name += this.src.slice(this.pos, end + 1);
        this.advance(end + 1 - this.pos);
      } else {
        break;
      }
    }
    return { kind: 'variable', raw: this.src.slice(begin, this.pos), value: name, ...start };
  }

  /** `(…)`, `$(…)` or `@(…)`, balanced, strings respected; kept as raw text. */
  private subexpression(prefix: number): Token {
    const start = this.here();
    const begin = this.pos;
    this.advance(prefix + 1);
    let depth = 1;
    while (this.pos < this.src.length && depth > 0) {
      const c = this.src[this.pos]!;
      if (DOUBLE_QUOTES.has(c) || SINGLE_QUOTES.has(c)) {
        const before = this.errors.length;
        if (DOUBLE_QUOTES.has(c)) this.doubleQuoted();
        else this.singleQuoted();
        if (this.errors.length > before) return { kind: 'subexpr', raw: this.src.slice(begin, this.pos), value: this.src.slice(begin, this.pos), ...start };
        continue;
      }
      if (c === '`') {
        this.advance(2);
        continue;
      }
      if (c === '#' ) {
        this.skipToLineEnd();
        continue;
      }
      if (c === '(') depth++;
      if (c === ')') depth--;
      this.advance();
    }
    if (depth > 0) this.errors.push({ ...start, message: '"(" is never closed with ")"' });
    // Member access on the result: (Get-NetAdapter "Ethernet").ifIndex
    while (this.src[this.pos] === '.' && /[A-Za-z_]/.test(this.src[this.pos + 1] ?? '')) {
      this.advance();
      while (this.pos < this.src.length && /[A-Za-z0-9_]/.test(this.src[this.pos]!)) this.advance();
    }
    const raw = this.src.slice(begin, this.pos);
    return { kind: 'subexpr', raw, value: raw, ...start };
  }

  private singleQuoted(): Token {
    const start = this.here();
    const begin = this.pos;
    this.advance();
    let value = '';
    for (;;) {
      if (this.pos >= this.src.length) {
        this.errors.push({ ...start, message: 'this quoted string is never closed' });
        break;
      }
      const c = this.src[this.pos]!;
      if (SINGLE_QUOTES.has(c)) {
        if (SINGLE_QUOTES.has(this.src[this.pos + 1] ?? '')) {
          value += "'";
          this.advance(2);
          continue;
        }
        this.advance();
        break;
      }
      value += c;
      this.advance();
    }
    return { kind: 'string', raw: this.src.slice(begin, this.pos), value, ...start };
  }

  private doubleQuoted(): Token {
    const start = this.here();
    const begin = this.pos;
    this.advance();
    const parts: StringPart[] = [];
    let text = '';
    let value = '';
    const flush = () => {
      if (text) parts.push({ text });
      text = '';
    };
    for (;;) {
      if (this.pos >= this.src.length) {
        this.errors.push({ ...start, message: 'this quoted string is never closed' });
        break;
      }
      const c = this.src[this.pos]!;
      const next = this.src[this.pos + 1] ?? '';
      if (DOUBLE_QUOTES.has(c)) {
        if (DOUBLE_QUOTES.has(next)) {
          text += '"';
          value += '"';
          this.advance(2);
          continue;
        }
        this.advance();
        break;
      }
      if (c === '`' && next !== '') {
        const escaped = BACKTICK_ESCAPES[next] ?? next;
        text += escaped;
        value += escaped;
        this.advance(2);
        continue;
      }
      if (c === '$' && (next === '(' || /[A-Za-z_{]/.test(next))) {
        flush();
        const varStart = this.here();
        const from = this.pos;
        const token = next === '(' ? this.subexpression(1) : this.variable();
        const raw = this.src.slice(from, this.pos);
        parts.push({ variable: token.kind === 'variable' ? token.value : '', raw, ...varStart });
        value += raw;
        continue;
      }
      text += c;
      value += c;
      this.advance();
    }
    flush();
    return { kind: 'string', raw: this.src.slice(begin, this.pos), value, parts, ...start };
  }
}
