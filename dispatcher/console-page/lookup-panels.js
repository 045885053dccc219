// Message lookup by id, and the replies that could not be delivered.
import { useEffect, useState } from 'preact/hooks';
import { api, Body, fmtTime, html, Panel } from './views.js';

export function LookupPanel() {
  const [id, setId] = useState('');
  const [found, setFound] = useState(null);
  const [error, setError] = useState('');
  const find = async (e) => {
    e.preventDefault();
    setError('');
    setFound(null);
    try {
      setFound(await api(`/api/messages/${encodeURIComponent(id.trim())}`));
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<${Panel} title="Find a message" id="lookup">
    <form class="toolbar" onSubmit=${find}>
      <input placeholder="message id" value=${id} onInput=${(e) => setId(e.target.value)} data-testid="lookup-id" size="40" />
      <button type="submit" data-testid="lookup-go" disabled=${id.trim() === ''}>Find</button>
    </form>
    ${error ? html`<div class="message">${error}</div>` : null}
    ${
      found
        ? html`<div class="detail" data-testid="lookup-result">
          <div><strong>${found.id}</strong> is <strong class="state" data-testid="lookup-state">${found.state}</strong>
            · ${found.attempts} attempt(s)${found.partition !== undefined ? ` · partition ${found.partition}` : ''}</div>
          ${found.worker ? html`<div>worker <span data-testid="lookup-worker">${found.worker}</span></div>` : null}
          ${found.deadline ? html`<div>claim expires ${fmtTime(found.deadline)}</div>` : null}
          ${found.dueAt ? html`<div>due ${fmtTime(found.dueAt)}</div>` : null}
          ${found.deadAt ? html`<div>dead-lettered ${fmtTime(found.deadAt)}</div>` : null}
          ${found.lastError ? html`<div>last error: <span class="reason">${found.lastError}</span></div>` : null}
          ${found.note ? html`<div class="muted">${found.note}</div>` : null}
          ${found.body !== undefined ? html`<${Body} base64=${found.body} />` : null}
        </div>`
        : null
    }
  <//>`;
}

export function OutboundPanel({ tick, readOnly }) {
  const [page, setPage] = useState({ total: 0, entries: [] });
  const [open, setOpen] = useState(null);
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState('');
  const load = () => api('/api/outbound-dlq?limit=20').then(setPage, () => {});
  // Every 10 snapshots: undeliverable replies are rare and the list can be long.
  useEffect(() => void load(), [Math.floor(tick / 10)]);
  const purge = async () => {
    setConfirming(false);
    try {
      const result = await api('/api/outbound-dlq/purge', { all: true });
      setMessage(`purged ${result.purged}`);
      setOpen(null);
      await load();
    } catch (error) {
      setMessage(`refused: ${error.message}`);
    }
  };
  return html`<${Panel} title=${`Undeliverable replies (${page.total})`} id="outbound">
    <div class="toolbar">
      <button data-testid="outbound-purge" class="danger" disabled=${readOnly || page.total === 0} onClick=${() => setConfirming(true)}>Purge all…</button>
      <button onClick=${load}>Refresh</button>
    </div>
    ${
      confirming
        ? html`<div class="confirm" data-testid="outbound-confirm">
          Delete every undeliverable reply (${page.total})? This cannot be undone.
          <button data-testid="outbound-confirm-yes" class="danger" onClick=${purge}>Yes, purge</button>
          <button onClick=${() => setConfirming(false)}>Cancel</button>
        </div>`
        : null
    }
    ${message ? html`<div class="message" data-testid="outbound-message">${message}</div>` : null}
    <table>
      <thead><tr><th>message</th><th>reason</th><th>reply to</th><th>dead at</th><th></th></tr></thead>
      <tbody>
        ${page.entries.map(
          (e, i) => html`<tr key=${i} data-testid="outbound-row">
            <td class="id">${e.messageId ?? '?'}</td><td class="reason">${e.reason}</td><td>${e.replyTo ?? '?'}</td>
            <td>${fmtTime(e.deadAt)}</td><td><button onClick=${() => setOpen(e)}>View</button></td>
          </tr>`,
        )}
        ${page.entries.length === 0 ? html`<tr><td colspan="5" class="muted">none</td></tr>` : null}
      </tbody>
    </table>
    ${open ? html`<div class="detail"><button onClick=${() => setOpen(null)}>Close</button><${Body} base64=${open.payload} label="payload" /></div>` : null}
  <//>`;
}
