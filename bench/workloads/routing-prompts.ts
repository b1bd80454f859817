import { prng } from '../../support/prng.js';

/** The routing workload (issue 12): 64 system prompts of 4 KiB, each request one of them plus a unique 256-byte user message. */
const SYSTEM_PROMPTS = 64;
const SYSTEM_PROMPT_BYTES = 4096;
const USER_MESSAGE_BYTES = 256;
/** The system prompts all begin with the same preamble, as real ones often do ("You are a helpful ..."). */
const SHARED_PREAMBLE_BYTES = 256;
/** Blocks of a request's prompt text: the 4 KiB system prompt in its turn, then the user's turn. */
export const PROMPT_BLOCKS = 17;
/** Full blocks that lie inside the system prompt's turn: the ones a cache can share between requests. */
export const SYSTEM_BLOCKS = 16;

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

function text(random: () => number, bytes: number): string {
  let out = '';
  while (out.length < bytes) out += `${WORDS[Math.floor(random() * WORDS.length)]} `;
  return out.slice(0, bytes);
}

/** The same 64 prompts in every run (a fixed seed). */
export function systemPrompts(): string[] {
  const random = prng(0x5eed);
  const preamble = text(random, SHARED_PREAMBLE_BYTES);
  return Array.from({ length: SYSTEM_PROMPTS }, (_, i) => {
    const own = `prompt ${i}: ${text(random, SYSTEM_PROMPT_BYTES)}`;
    return (preamble + own).slice(0, SYSTEM_PROMPT_BYTES);
  });
}

/** A user message no other request has (its block is always a miss, as a new question is). */
export function userMessage(serial: number, random: () => number): string {
  const head = `question ${serial}: `;
  return head + text(random, USER_MESSAGE_BYTES - head.length);
}
