// The dead-letter browser: filter by reason, view one in full, replay or purge (with a confirmation).
import { useEffect, useState } from 'preact/hooks';
import { api, Body, fmtTime, html, Panel } from './views.js';

const PAGE = 20;

export function DlqPanel({ readOnly, deadLetters }) {
  const [reason, setReason] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState({ total: 0, entries: [] });
  const [selected, setSelected] = useState(new Set());
  const [open, setOpen] = useState(null);
  const [pending, setPending] = useState(null);
  const [message, setMessage] = useState('');

  const load = async () => {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (reason) q.set('reason', reason);
    try {
      setPage(await api(`/api/dlq?${q}`));
    } catch (error) {
      setMessage(error.message);
    }
  };
  // Reloads when the filter or page changes and whenever the dead-letter count moves.
  useEffect(() => void load(), [reason, offset, deadLetters]);

  const selection = () => (selected.size > 0 ? { ids: [...selected] } : reason ? { reason } : { all: true });
  const describe = (sel) =>
    sel.ids
      ? `${sel.ids.length} selected`
      : sel.reason
        ? `every one matching "${sel.reason}"`
        : 'every dead letter';
  const act = async (verb) => {
    const sel = pending.selection;
    setPending(null);
    try {
      const result = await api(`/api/dlq/${verb}`, sel);
      const count = verb === 'replay' ? result.replayed : result.purged;
      const extra = result.oversize?.length
        ? `; ${result.oversize.length} over the payload limit stayed`
        : '';
      setMessage(`${verb === 'replay' ? 'replayed' : 'purged'} ${count}${extra}`);
      setSelected(new Set());
      setOpen(null);
      await load();
    } catch (error) {
      setMessage(`refused: ${error.message}`);
    }
  };
  const toggle = (id) => {
    const next = new Set(selected);
    next.has(id) ? next.delete(id) : next.add(id);
    setSelected(next);
  };

  return html`<${Panel} title=${`Dead letters (${page.total}${reason ? ' matching' : ''})`} id="dlq">
    <div class="toolbar">
      <input placeholder="filter by reason" value=${reason} data-testid="dlq-reason"
        onInput=${(e) => {
          setReason(e.target.value);
          setOffset(0);
          setSelected(new Set());
        }} />
      <button data-testid="dlq-replay" disabled=${readOnly} onClick=${() => setPending({ verb: 'replay', selection: selection() })}>Replay…</button>
      <button data-testid="dlq-purge" class="danger" disabled=${readOnly} onClick=${() => setPending({ verb: 'purge', selection: selection() })}>Purge…</button>
      <button onClick=${load}>Refresh</button>
      <span class="muted">${offset + 1}–${offset + page.entries.length} of ${page.total}</span>
      <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>‹</button>
      <button disabled=${offset + PAGE >= page.total} onClick=${() => setOffset(offset + PAGE)}>›</button>
    </div>
    ${
      pending
        ? html`<div class="confirm" data-testid="dlq-confirm">
          ${pending.verb === 'purge' ? 'Delete' : 'Replay'} ${describe(pending.selection)}?
          ${pending.verb === 'purge' ? ' This cannot be undone.' : ''}
          <button data-testid="dlq-confirm-yes" class=${pending.verb === 'purge' ? 'danger' : ''} onClick=${() => act(pending.verb)}>Yes, ${pending.verb}</button>
          <button onClick=${() => setPending(null)}>Cancel</button>
        </div>`
        : null
    }
    ${message ? html`<div class="message" data-testid="dlq-message">${message}</div>` : null}
    <table>
      <thead><tr><th></th><th>id</th><th>reason</th><th>attempts</th><th>dead at</th><th>size</th><th></th></tr></thead>
      <tbody>
        ${page.entries.map(
          (e) => html`<tr key=${e.id} data-testid="dlq-row" data-id=${e.id}>
            <td><input type="checkbox" checked=${selected.has(e.id)} onChange=${() => toggle(e.id)} data-testid="dlq-select" /></td>
            <td class="id">${e.id}</td><td class="reason">${e.reason}</td><td class="num">${e.attempts}</td>
            <td>${fmtTime(e.deadAt)}</td><td class="num">${e.size}</td>
            <td><button data-testid="dlq-view" onClick=${() => showOne(e.id, setOpen, setMessage)}>View</button></td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${
      open
        ? html`<div class="detail" data-testid="dlq-detail">
          <div><strong>${open.id}</strong> · ${open.attempts} attempt(s) · dead at ${fmtTime(open.deadAt)}
            <button onClick=${() => setOpen(null)}>Close</button></div>
          <div>reason: <span class="reason">${open.reason}</span></div>
          ${open.stack ? html`<pre class="stack">${open.stack}</pre>` : null}
          <${Body} base64=${open.body} />
        </div>`
        : null
    }
  <//>`;
}

async function showOne(id, setOpen, setMessage) {
  try {
    const { entries } = await api(`/api/dlq/${encodeURIComponent(id)}`);
    setOpen(entries[0]);
  } catch (error) {
    setMessage(error.message);
  }
}
