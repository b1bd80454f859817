const MAX_MODEL_LENGTH = 256;
/** A multipart field named model: its value runs from the blank line after the part's headers to the next CRLF. */
const MULTIPART_MODEL = /content-disposition:[^\r\n]*name="model"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]*)\r\n/i;

/**
 * The model a request body names, for a key limited to some models: `model` of a JSON object, or the
 * `model` field of a multipart form (the audio endpoints). Null when it names none the proxy can read.
 */
export function requestModel(body: Buffer, contentType: string | undefined): string | null {
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) {
    const match = MULTIPART_MODEL.exec(body.toString('latin1'));
    return match === null
      ? null
      : Buffer.from(match[1] as string, 'latin1')
          .toString('utf8')
          .slice(0, MAX_MODEL_LENGTH);
  }
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    const model = typeof parsed === 'object' && parsed !== null ? (parsed as { model?: unknown }).model : undefined;
    return typeof model === 'string' ? model.slice(0, MAX_MODEL_LENGTH) : null;
  } catch {
    return null;
  }
}
