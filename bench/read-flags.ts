/** Applies one flag's value to the arguments being built; throws with a message that names the flag. */
export type FlagSetter<A> = (args: A, value: string, name: string) => void;

/**
 * The bench's tiny argv reader (npm run bench, npm run soak): `--name value` or `--name=value`,
 * `--help` prints `usage` and exits, an unknown flag or a bare word is an error that shows `usage`.
 */
export function readFlags<A>(argv: readonly string[], usage: string, defaults: A, setters: Readonly<Record<string, FlagSetter<A>>>): A {
  const args = defaults;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--help' || token === '-h') {
      console.log(usage);
      process.exit(0);
    }
    if (!token.startsWith('--')) throw new Error(`unexpected argument '${token}'\n${usage}`);
    const eq = token.indexOf('=');
    const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
    const value = eq === -1 ? argv[++i] : token.slice(eq + 1);
    if (value === undefined) throw new Error(`--${name} needs a value\n${usage}`);
    const set = Object.hasOwn(setters, name) ? setters[name] : undefined;
    if (set === undefined) throw new Error(`unknown flag --${name}\n${usage}`);
    set(args, value, name);
  }
  return args;
}

/** A number in [min, max], for setters; `--name` in the message. */
export function numberIn(name: string, value: string, min: number, max: number): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new Error(`--${name} must be a number from ${min} to ${max}, got '${value}'`);
  }
  return parsed;
}

export function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${raw}'`);
  return n;
}

/** `on` or `off`, as true or false. */
export function onOff(name: string, value: string): boolean {
  if (value !== 'on' && value !== 'off') throw new Error(`--${name} must be on or off, got '${value}'`);
  return value === 'on';
}
