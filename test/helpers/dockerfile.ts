import assert from 'node:assert/strict';

/** One Dockerfile instruction: its keyword in capitals and the rest of its (joined) lines. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped; the ARGs before the first FROM; the comments. */
export function parseDockerfile(text: string): { stages: Instruction[][]; globalArgs: Record<string, string>; comments: string } {
  const comments: string[] = [];
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') logical.push(current.trim());
  const stages: Instruction[][] = [];
  const globalArgs: Record<string, string> = {};
  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    assert.ok(match, `a Dockerfile instruction: ${line}`);
    const instruction = { keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = instruction.args.split('=', 2);
      globalArgs[name as string] = value;
      continue;
    }
    assert.ok(stages.length > 0, `${instruction.keyword} before the first FROM`);
    (stages[stages.length - 1] as Instruction[]).push(instruction);
  }
  return { stages, globalArgs, comments: comments.join('\n') };
}

/** A stage's base image, `${NAME}` and `$NAME` replaced by the ARGs declared before the first FROM. */
export function baseImageOf(stage: Instruction[], globalArgs: Record<string, string>): string {
  const image = (stage[0]?.args ?? '').split(/\s+/).find((word) => !word.startsWith('--')) ?? '';
  return image.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name: string) => globalArgs[name] ?? '');
}

/** The stage's name (`FROM image AS name`), or null. */
export const stageName = (stage: Instruction[]): string | null => /\bAS\s+(\S+)/i.exec(stage[0]?.args ?? '')?.[1] ?? null;

export const argsOf = (stage: Instruction[], keyword: string): string[] => stage.filter((i) => i.keyword === keyword).map((i) => i.args);

/** `CMD ["a", "b"]` -> ['a', 'b']; the shell form -> ['/bin/sh', '-c', text]. */
export function commandOf(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/** `ENV A=1 B="x"` (and the legacy `ENV A 1`) as a record. */
export function envOf(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args.includes('=')) {
    const [name, ...value] = args.split(/\s+/);
    out[name as string] = value.join(' ');
    return out;
  }
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = match[2] as string;
    out[match[1] as string] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return out;
}
