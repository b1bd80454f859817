import { type PriorityClass, VLLM_PRIORITY } from '../admission/priority-class.js';

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The completion body with vLLM's `priority` field set for the request's class (lower is handled earlier
 * under vLLM's --scheduling-policy priority). A client may ask for less than its class (a higher value),
 * never for more. Without a `priority` field the value is inserted after the opening brace, every other
 * byte left as it was; standard's 0 is vLLM's default and is not written. `json` is the body as parsed.
 */
export function withEnginePriority(body: Buffer, json: Record<string, unknown>, priority: PriorityClass): Buffer {
  const value = VLLM_PRIORITY[priority];
  const asked = json.priority;
  if (typeof asked === 'number' && Number.isSafeInteger(asked) && asked >= value) return body;
  if (!('priority' in json)) {
    if (value === 0) return body;
    const brace = body.indexOf(OPEN_BRACE);
    let next = brace + 1;
    while (next < body.length && (body[next] === 0x20 || body[next] === 0x0a || body[next] === 0x0d || body[next] === 0x09)) next++;
    const field = `"priority":${value}${body[next] === CLOSE_BRACE ? '' : ','}`;
    return Buffer.concat([body.subarray(0, brace + 1), Buffer.from(field), body.subarray(brace + 1)]);
  }
  // The client's own value asks for more than its class: replaced (the body may carry the proxy's own edits, so it is parsed again).
  return Buffer.from(JSON.stringify({ ...(JSON.parse(body.toString('utf8')) as Record<string, unknown>), priority: value }));
}
