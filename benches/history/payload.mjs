// What the history bench broadcasts: message i on channel `bench:<i % CHANNELS>`, about 100
// bytes of JSON, a fresh object and string each (as an app's own broadcasts are).

/** Channels the messages are spread over (none has a member). */
export const CHANNELS = 100;

/** Message `i`: `{"t":<i>,"p":"x…"}`, about 100 bytes of JSON. */
export function payload(i) {
  return { t: i, p: 'x'.repeat(80) };
}

/** The mean size in bytes of the JSON of messages 0 … count − 1. */
export function meanPayloadBytes(count) {
  let total = 0;
  for (let i = 0; i < count; i++) total += JSON.stringify(payload(i)).length;
  return total / count;
}
