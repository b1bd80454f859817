import { readFileSync } from 'node:fs';

/** `import { a, b as c } from './x.js';` as tsc emits it: one line, relative, type-only imports already gone. */
const IMPORT = /^import \{([^}]*)\} from '(\.{1,2}\/[^']+)';\n/gm;
const EXPORT = /^export (?=(?:async )?(?:function\*?|const|let|class) ([A-Za-z_$][\w$]*))/gm;
/** What tsc writes for a module whose exports were all types. */
const EMPTY_EXPORT = /^export \{\};\n/m;
const SOURCE_MAP = /^\/\/# sourceMappingURL=.*$/m;
/** Anything else (default exports, re-exports, bare or dynamic imports) is refused, not silently broken. */
const OTHER_MODULE_SYNTAX = /^(?:import|export)\b.*$/m;

/**
 * Joins the compiled ES modules reachable from `entry` into one script, dependencies first, for an inline
 * `<script type="module">` (which cannot import). Each module runs in its own function scope and returns
 * its exports to the modules that import it, so no two modules' top-level names can collide.
 */
export function inlineModules(entry: URL): string {
  const names = new Map<string, string>();
  const parts: string[] = [];
  const visit = (url: URL, importers: readonly string[]): string => {
    const known = names.get(url.href);
    if (known !== undefined) return known;
    if (importers.includes(url.href)) throw new Error(`import cycle through ${url.pathname}`);
    const bindings: string[] = [];
    const exported: string[] = [];
    const code = readFileSync(url, 'utf8')
      .replace(EMPTY_EXPORT, '')
      .replace(SOURCE_MAP, '')
      .replace(IMPORT, (_, imported: string, specifier: string) => {
        const module = visit(new URL(specifier, url), [...importers, url.href]);
        bindings.push(`const {${imported.replaceAll(' as ', ': ')}} = ${module};\n`);
        return '';
      })
      .replace(EXPORT, (_, name: string) => {
        exported.push(name);
        return '';
      });
    const unsupported = OTHER_MODULE_SYNTAX.exec(code);
    if (unsupported !== null) throw new Error(`${url.pathname}: cannot inline "${unsupported[0]}"`);
    const name = `__module${names.size}`;
    names.set(url.href, name);
    parts.push(`const ${name} = (() => {\n${bindings.join('')}${code}return { ${exported.join(', ')} };\n})();\n`);
    return name;
  };
  visit(entry, []);
  const script = parts.join('');
  // The HTML parser would end the script element there, whatever the JavaScript around it means.
  if (/<\/script/i.test(script)) throw new Error('an inlined module contains "</script"');
  return script;
}
