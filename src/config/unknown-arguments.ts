import { ENV_PREFIX } from './defaults.js';
import { FLAGS } from './flags.js';

const camelCase = (name: string): string => name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());

/** `INFERENCE_PROXY_DRAIN_TIMEOUT` for `drain-timeout`. */
export const envNameOf = (flag: string): string => `${ENV_PREFIX}_${flag.toUpperCase().replace(/-/g, '_')}`;

/** Whether argv gives `flag` itself (`--flag value`, `--flag=value`, or yargs' camelCase spelling), as opposed to the environment. */
export function onCommandLine(flag: string, argv: readonly string[]): boolean {
  const spellings = [flag, camelCase(flag)];
  return argv.some((arg) => spellings.some((name) => arg === `--${name}` || arg.startsWith(`--${name}=`)));
}

/** Edits (insert, delete, replace) from `a` to `b`. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        (previous[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length] as number;
}

/** The flag a typo most likely meant, if one is close. */
function closestFlag(name: string): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const flag of Object.keys(FLAGS)) {
    const d = distance(name, flag);
    if (d < bestDistance) [best, bestDistance] = [flag, d];
  }
  return best;
}

/**
 * yargs' "Unknown argument(s): a, b" as one line that names each culprit as the user wrote it: the
 * --flag of the command line, or the INFERENCE_PROXY_* variable of the environment (yargs reports both as
 * a bare camelCase or dashed name, and an unknown --foo-bar twice), with the flag it most likely meant.
 */
export function unknownArguments(names: readonly string[], argv: readonly string[], env: NodeJS.ProcessEnv): string {
  const variables = new Map<string, string>();
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith(`${ENV_PREFIX}_`)) continue;
    const flag = variable
      .slice(ENV_PREFIX.length + 1)
      .toLowerCase()
      .replace(/_/g, '-');
    variables.set(flag, variable).set(camelCase(flag), variable);
  }
  const culprits = new Set<string>();
  const echoes = new Set(names.filter((name) => name.includes('-')).map(camelCase));
  for (const name of names) {
    const variable = variables.get(name);
    const flag = name.includes('-') ? name : name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    if (variable !== undefined && !onCommandLine(name, argv)) {
      const meant = closestFlag(flag);
      culprits.add(`${variable} (no such flag${meant === null ? '' : `; did you mean ${envNameOf(meant)}?`})`);
    } else if (!echoes.has(name)) {
      const meant = closestFlag(flag);
      culprits.add(`${name}${meant === null ? '' : ` (did you mean --${meant}?)`}`);
    }
  }
  return `Unknown argument${culprits.size > 1 ? 's' : ''}: ${[...culprits].join(', ')}`;
}
