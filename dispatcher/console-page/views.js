// Small pieces the panels share: formatting, the API client, and how a body is shown.

import htm from 'htm';
import { h } from 'preact';

export const html = htm.bind(h);

const TOKEN_KEY = 'redispatch-console-token';
/** The token lives in this tab's session storage only: never a cookie, never sent unless asked. */
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) ?? '',
  set: (value) => (value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY)),
};

/** GET or POST the API; resolves to the JSON answer, rejects with the server's one-line error. */
export async function api(path, body) {
  const init =
    body === undefined
      ? {}
      : {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token.get() ? { authorization: `Bearer ${token.get()}` } : {}),
          },
          body: JSON.stringify(body),
        };
  const res = await fetch(path, init);
  const value = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(`${res.status}: ${value.error ?? 'failed'}`);
  return value;
}

export const fmtMs = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
export const fmtTime = (epochMs) =>
  epochMs ? new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '') : '—';
export const fmtRate = (n) => (n === undefined || n === null ? '—' : `${n.toFixed(1)}/s`);

function bytesOf(base64) {
  const raw = atob(base64 ?? '');
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

const isControl = (code) =>
  (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || (code >= 0x7f && code < 0xa0);

const STRICT = new TextDecoder('utf-8', { fatal: true });
/** Text when the bytes are UTF-8 without control characters (tab, newline, return allowed). */
function printable(bytes) {
  try {
    const text = STRICT.decode(bytes);
    for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return undefined;
    return text;
  } catch {
    return undefined;
  }
}

function hexDump(bytes) {
  const lines = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const row = bytes.subarray(offset, offset + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

/**
 * A body as text or as a hex dump. Always a text node inside <pre> (Preact escapes it): a body
 * that is markup shows as markup, never runs.
 */
export function Body({ base64, label = 'body' }) {
  const bytes = bytesOf(base64);
  const text = printable(bytes);
  const kind = text === undefined ? 'hex dump' : 'text';
  return html`<div class="body">
    <div class="muted">${label}: ${bytes.length} bytes, ${kind}</div>
    <pre data-testid="body">${text === undefined ? hexDump(bytes) : text}</pre>
  </div>`;
}

/** A panel with a title. */
export function Panel({ title, id, children }) {
  return html`<section class="panel" id=${id}><h2>${title}</h2>${children}</section>`;
}
