/** Decides whether a key may use a model: null patterns allow every model. */
export type ModelCheck = (model: string) => boolean;

const ALLOW_ALL: ModelCheck = () => true;

/**
 * A key's `models:` as one anchored regular expression, compiled at startup: `*` stands for any run of
 * characters (slashes included: `meta-llama/*`), `?` for one; everything else is literal.
 */
export function createModelCheck(patterns: readonly string[] | null): ModelCheck {
  if (patterns === null) return ALLOW_ALL;
  const exact = new Set(patterns.filter((pattern) => !/[*?]/.test(pattern)));
  const globs = patterns.filter((pattern) => /[*?]/.test(pattern)).map(globSource);
  const glob = globs.length === 0 ? null : new RegExp(`^(?:${globs.join('|')})$`, 's');
  return (model) => exact.has(model) || (glob?.test(model) ?? false);
}

function globSource(pattern: string): string {
  let out = '';
  for (const char of pattern) {
    if (char === '*') out += '.*';
    else if (char === '?') out += '.';
    else out += char.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return out;
}
