/** The two OpenAI completion APIs: `chat` (/v1/chat/completions, `messages`) and `text` (/v1/completions, `prompt`). */
export type CompletionKind = 'chat' | 'text';
