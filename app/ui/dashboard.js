// jobq's dashboard: one page, a view per hash route (#/, #/queues, #/jobs, #/jobs/ID,
// #/schedules, #/workers), talking to the JSON API beside it.
//
// Rules kept throughout:
// - Every value that comes from the server is put in the page as text (textContent, text
//   nodes, attribute values), never parsed as HTML: the helper el() has no way to.
// - The token lives in sessionStorage only, and travels in the Authorization header: the
//   live stream is read with fetch, since EventSource cannot send a header.
'use strict';

(() => {
  const tokenKey = 'jobq.token';
  const states = ['queued', 'processing', 'done', 'failed', 'cancelled'];
  const pageSize = 50;
  const main = document.getElementById('main');
  const live = document.getElementById('live');
  const forgetButton = document.getElementById('forget-token');
  const numbers = new Intl.NumberFormat();

  // --- building the page

  // An element with attributes (`class`, `text`, `on<event>` handled apart) and children;
  // strings become text nodes.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const count = (n) => (n === null || n === undefined ? '—' : numbers.format(n));

  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    const s = ms / 1000;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${m % 60} min`;
    return `${numbers.format(Math.floor(h / 24))} d ${h % 24} h`;
  }

  // A time in the browser's zone, its UTC value on hover.
  function time(iso) {
    if (!iso) return el('span', { class: 'muted', text: '—' });
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return el('span', { text: iso });
    return el('time', { datetime: iso, title: `UTC ${at.toISOString()}`, text: at.toLocaleString() });
  }

  const stateBadge = (state) => el('span', { class: `state ${state}`, text: state });

  function table(headers, rows, attributes) {
    const head = el('tr', {}, headers.map((h) => el('th', { class: h.num ? 'num' : null, scope: 'col', text: h.label || h })));
    return el('div', { class: 'table-wrap' }, el('table', attributes || {}, el('thead', {}, head), el('tbody', {}, rows)));
  }

  const numCell = (n) => el('td', { class: 'num', text: count(n) });
  const empty = (...children) => el('p', { class: 'empty' }, children);
  const code = (text) => el('code', { text });

  function notice(text, kind) {
    return el('div', { class: `notice ${kind || ''}`, role: kind === 'bad' ? 'alert' : 'status', text });
  }

  // Replaces the view; `data-view` says which hash it shows (tests wait on it).
  function show(...children) {
    main.replaceChildren(...children);
    main.dataset.view = location.hash;
  }

  // --- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || `HTTP ${status}`);
      this.status = status;
      this.code = code;
    }
    // The token is missing or wrong (401), or cannot act (403 forbidden: the worker
    // token); not the other 403s (a request the server refuses from any token).
    get refusedToken() {
      return this.status === 401 || (this.status === 403 && this.code === 'forbidden');
    }
  }

  function authHeaders() {
    const token = sessionStorage.getItem(tokenKey);
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  // The API's paths are relative to the page (/ui/): "../stats" is /stats, also behind a
  // proxy that mounts jobq under a prefix.
  async function api(method, path, body) {
    const headers = authHeaders();
    const options = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    const response = await fetch(`../${path}`, options);
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code, error.message);
    }
    return data;
  }

  // A queue or schedule name as a path segment. (A queue named "." or ".." cannot be
  // reached by path: URLs resolve dot segments, encoded or not.)
  const segment = (name) => encodeURIComponent(name);

  // --- asking for the token

  function showLogin(reason) {
    setLive(null);
    const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true });
    const form = el(
      'form',
      {
        onsubmit: (event) => {
          event.preventDefault();
          sessionStorage.setItem(tokenKey, input.value.trim());
          route();
        },
      },
      el('label', { for: 'token', text: 'API token' }),
      input,
      el('button', { class: 'primary', type: 'submit', text: 'Sign in' }),
    );
    show(
      el(
        'section',
        { class: 'login panel', 'aria-labelledby': 'login-title' },
        el('h1', { id: 'login-title', text: 'Sign in' }),
        el('p', { text: 'This jobq server asks for its API token (--api-token). It is kept in this tab only.' }),
        reason ? notice(reason, 'bad') : null,
        form,
      ),
    );
    input.focus();
  }

  function refusedMessage(error) {
    const hadToken = sessionStorage.getItem(tokenKey) !== null;
    sessionStorage.removeItem(tokenKey);
    updateForgetButton();
    if (error.status === 403) return 'That token cannot act here: it is the worker token. Use the API token.';
    return hadToken ? 'That token was refused.' : null;
  }

  function updateForgetButton() {
    forgetButton.hidden = sessionStorage.getItem(tokenKey) === null;
  }

  forgetButton.addEventListener('click', () => {
    sessionStorage.removeItem(tokenKey);
    route();
  });

  // --- confirmation

  const confirmDialog = document.getElementById('confirm');
  function confirmAction(text, label) {
    return new Promise((resolve) => {
      document.getElementById('confirm-text').textContent = text;
      const ok = document.getElementById('confirm-ok');
      const cancel = document.getElementById('confirm-cancel');
      ok.textContent = label;
      const finish = (answer) => {
        ok.removeEventListener('click', yes);
        cancel.removeEventListener('click', no);
        confirmDialog.removeEventListener('cancel', no);
        if (confirmDialog.open) confirmDialog.close();
        resolve(answer);
      };
      const yes = () => finish(true);
      const no = () => finish(false);
      ok.addEventListener('click', yes);
      cancel.addEventListener('click', no);
      confirmDialog.addEventListener('cancel', no);
      confirmDialog.showModal();
      cancel.focus();
    });
  }

  // An action's button: disabled while it runs; the outcome is said in `status`.
  async function act(button, status, work) {
    button.disabled = true;
    try {
      const message = await work();
      if (typeof message === 'string') status.replaceChildren(notice(message, 'good'));
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.refusedToken) {
        showLogin(refusedMessage(error));
      } else {
        status.replaceChildren(notice(`Failed: ${error.message}`, 'bad'));
      }
      return false;
    } finally {
      button.disabled = false;
    }
  }

  // --- the live stream (GET /events)

  // null (no stream), 'live', 'reconnecting' or 'unavailable' (the server's store fails).
  function setLive(state) {
    const text = { live: 'live', reconnecting: 'reconnecting…', unavailable: 'store unavailable' };
    live.className = state === null ? 'live' : state === 'live' ? 'live on' : 'live off';
    live.textContent = state === null ? '' : text[state];
  }

  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });

  // One event of the stream: its name and its data lines joined (the server sends one).
  function parseEvent(block) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') name = value;
      else if (field === 'data') data.push(value);
    }
    return { name, data: data.join('\n') };
  }

  // The server sends an event every second: this long without one, the connection is
  // taken for dead (a laptop that slept, a dropped route) and made again.
  const silenceMs = 5000;

  // Reads GET /events until `signal` aborts, reconnecting with a growing pause (at most
  // 10 s); onOverview gets each overview's data.
  async function streamEvents(signal, onOverview) {
    let pause = 1000;
    while (!signal.aborted) {
      const connection = new AbortController();
      const hangUp = () => connection.abort();
      signal.addEventListener('abort', hangUp, { once: true });
      let watchdog = setTimeout(hangUp, silenceMs);
      try {
        const response = await fetch('../events', { headers: authHeaders(), cache: 'no-store', signal: connection.signal });
        if (response.status === 401 || response.status === 403) {
          const refusal = await response.json().catch(() => ({}));
          const error = refusal.error || {};
          throw new ApiError(response.status, error.code, error.message);
        }
        if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
        setLive('live');
        pause = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            clearTimeout(watchdog);
            watchdog = setTimeout(hangUp, silenceMs);
            buffer += value.replace(/\r\n?/g, '\n');
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const event = parseEvent(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
              if (event.name === 'overview') {
                onOverview(JSON.parse(event.data));
                setLive('live');
              } else if (event.name === 'unavailable') {
                setLive('unavailable');
              }
            }
          }
        } finally {
          reader.cancel().catch(() => {});
        }
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError) {
          if (error.refusedToken) showLogin(refusedMessage(error));
          else show(el('h1', { text: 'Refused' }), notice(error.message, 'bad'));
          return;
        }
      } finally {
        clearTimeout(watchdog);
        signal.removeEventListener('abort', hangUp);
      }
      if (signal.aborted) return;
      setLive('reconnecting');
      await sleep(pause, signal);
      pause = Math.min(pause * 2, 10000);
    }
  }

  // --- overview

  function throughputChart(canvas) {
    if (!window.Chart) return null;
    const style = getComputedStyle(document.documentElement);
    const color = (name) => style.getPropertyValue(name).trim();
    const series = ['enqueued', 'done', 'failed'];
    const chart = new window.Chart(canvas, {
      type: 'line',
      data: {
        datasets: series.map((name) => ({
          label: name,
          data: [],
          borderColor: color(`--chart-${name}`),
          backgroundColor: color(`--chart-${name}`),
          borderWidth: 1.5,
          borderDash: name === 'enqueued' ? [5, 3] : [],  // done often runs under it
          pointRadius: 0,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: {
            type: 'linear',
            grid: { color: color('--line') },
            ticks: {
              color: color('--muted'),
              maxTicksLimit: 7,
              callback: (second) => new Date(second * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }),
            },
          },
          y: { beginAtZero: true, grid: { color: color('--line') }, ticks: { color: color('--muted'), precision: 0 } },
        },
        plugins: {
          legend: { labels: { color: color('--text') } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? new Date(items[0].parsed.x * 1000).toLocaleTimeString() : ''),
            },
          },
        },
      },
    });

    // Puts a window of /stats/history (or an event's) in the chart: seconds already shown
    // are overwritten (the last one was still counting), later ones appended, and what is
    // older than an hour dropped.
    function put(window) {
      chart.data.datasets.forEach((dataset, i) => {
        const values = window.totals[series[i]] || [];
        const data = dataset.data;
        for (let k = 0; k < values.length; k++) {
          const second = window.from + k;
          const last = data.length ? data[data.length - 1].x : -Infinity;
          if (second > last) data.push({ x: second, y: values[k] });
          else {
            const index = data.length - 1 - (last - second);
            if (index >= 0) data[index] = { x: second, y: values[k] };
          }
        }
        const newest = data.length ? data[data.length - 1].x : 0;
        let drop = 0;
        while (drop < data.length && data[drop].x <= newest - 3600) drop++;
        if (drop) data.splice(0, drop);
      });
      const newest = window.from + window.seconds - 1;
      chart.options.scales.x.min = newest - 3599;
      chart.options.scales.x.max = newest;
      chart.update('none');
    }
    return { put, destroy: () => chart.destroy() };
  }

  function stateCounts(counts) {
    return states.map((s) => numCell(counts[s]));
  }

  function renderOverview(parts, stats) {
    for (const state of states) parts.cards[state].textContent = count(stats.jobs[state]);
    parts.cards.failed.parentNode.classList.toggle('failed', stats.jobs.failed > 0);  // red only when there are some
    parts.cards.oldest.textContent = duration(stats.oldest_runnable_age_ms);
    parts.cards.workers.textContent = `${count(stats.workers.busy)} / ${count(stats.workers.total)}`;
    parts.cards.schedules.textContent = count(stats.schedules.total);

    const queues = Object.entries(stats.queues);
    parts.queues.replaceChildren(
      queues.length
        ? table(
            [{ label: 'Queue' }, ...states.map((s) => ({ label: s, num: true }))],
            queues.map(([name, counts]) => el('tr', {}, el('td', {}, el('a', { href: `#/jobs?queue=${encodeURIComponent(name)}`, text: name })), stateCounts(counts))),
            { id: 'overview-queues' },
          )
        : empty('No jobs yet. Submit one: ', code(`curl -X POST ${location.origin}/jobs -H 'Content-Type: application/json' -d '{"type":"noop","payload":{}}'`)),
    );

    const types = Object.entries(stats.types);
    const runTimes = stats.run_time_ms || {};
    parts.types.replaceChildren(
      types.length
        ? table(
            [
              { label: 'Type' },
              ...states.map((s) => ({ label: s, num: true })),
              { label: 'runs', num: true },
              { label: 'p50', num: true },
              { label: 'p95', num: true },
            ],
            types.map(([name, counts]) => {
              const times = runTimes[name];
              return el(
                'tr',
                {},
                el('td', {}, el('a', { href: `#/jobs?type=${encodeURIComponent(name)}`, text: name })),
                stateCounts(counts),
                numCell(times ? times.runs : null),
                el('td', { class: 'num', text: times ? duration(times.p50) : '—' }),
                el('td', { class: 'num', text: times ? duration(times.p95) : '—' }),
              );
            }),
            { id: 'overview-types' },
          )
        : empty('No job types have jobs yet.'),
    );
  }

  function card(label, key) {
    const value = el('div', { class: 'value', text: '—' });
    return { node: el('div', { class: 'card', 'data-count': key }, el('div', { class: 'label', text: label }), value), value };
  }

  async function overview(signal) {
    const [stats, history] = await Promise.all([api('GET', 'stats'), api('GET', 'stats/history?seconds=3600')]);
    if (signal.aborted) return;
    const cards = {};
    const cardNodes = [];
    for (const [label, key] of [
      ['Queued', 'queued'],
      ['Processing', 'processing'],
      ['Done', 'done'],
      ['Failed', 'failed'],
      ['Cancelled', 'cancelled'],
      ['Oldest runnable', 'oldest'],
      ['Workers busy', 'workers'],
      ['Schedules', 'schedules'],
    ]) {
      const c = card(label, key);
      cards[key] = c.value;
      cardNodes.push(c.node);
    }
    const canvas = el('canvas', { id: 'throughput', 'aria-label': 'Jobs enqueued, done and failed per second over the last hour', role: 'img' });
    const parts = { cards, queues: el('div'), types: el('div') };
    show(
      el('h1', { text: 'Overview' }),
      el('div', { class: 'cards' }, cardNodes),
      el('h2', { text: 'Last hour, per second' }),
      el('div', { class: 'panel' }, el('div', { class: 'chart-box' }, canvas)),
      el('div', { class: 'tables' }, el('section', {}, el('h2', { text: 'Queues' }), parts.queues), el('section', {}, el('h2', { text: 'Types' }), parts.types)),
    );
    renderOverview(parts, stats);
    const chart = throughputChart(canvas);
    if (chart) {
      chart.put(history);
      signal.addEventListener('abort', chart.destroy);
    }
    streamEvents(signal, (event) => {
      renderOverview(parts, event.stats);
      if (chart) chart.put(event.history);
    });
  }

  // --- queues

  async function queuesView(signal) {
    const { queues } = await api('GET', 'queues');
    if (signal.aborted) return;
    const status = el('div');
    const rows = queues.map((q) => queueRow(q, status));
    show(
      el('h1', { text: 'Queues' }),
      status,
      el('div', { class: 'filters' }, el('button', { type: 'button', onclick: route, text: 'Refresh' })),
      queues.length
        ? table(
            [
              { label: 'Queue' },
              ...states.map((s) => ({ label: s, num: true })),
              { label: 'Status' },
              { label: 'Concurrency', num: true },
              { label: 'Rate limit' },
              { label: 'Weight', num: true },
              { label: 'Oldest runnable', num: true },
              { label: 'Finished last min', num: true },
              { label: 'Actions' },
            ],
            rows,
            { id: 'queues-table' },
          )
        : empty('No queues yet: a queue appears with its first job, or when its settings are changed (PATCH /queues/{name}).'),
    );
  }

  function queueRow(q, status) {
    const path = `queues/${segment(q.name)}`;
    const reload = () => route();
    const pause = el('button', {
      type: 'button',
      'data-action': q.paused ? 'resume' : 'pause',
      'aria-label': `${q.paused ? 'Resume' : 'Pause'} queue ${q.name}`,
      text: q.paused ? 'Resume' : 'Pause',
      onclick: async (event) => {
        const clicked = event.currentTarget;  // unset once the handler awaits
        const ok = await act(clicked, status, async () => {
          await api('POST', `${path}/${q.paused ? 'resume' : 'pause'}`);
          return `Queue ${q.name} ${q.paused ? 'resumed' : 'paused'}.`;
        });
        if (ok) reload();
      },
    });
    const retry = el('button', {
      type: 'button',
      'data-action': 'retry-failed',
      'aria-label': `Retry the failed jobs of queue ${q.name}`,
      disabled: !q.counts.failed,
      text: 'Retry failed',
      onclick: async (event) => {
        const clicked = event.currentTarget;  // unset once the handler awaits
        if (!(await confirmAction(`Queue again every failed job of queue “${q.name}” (${count(q.counts.failed)})?`, 'Retry all'))) return;
        const ok = await act(clicked, status, async () => {
          const { count: n } = await api('POST', `${path}/retry-failed`);
          return `${count(n)} jobs of ${q.name} queued again.`;
        });
        if (ok) reload();
      },
    });
    const purgeState = el(
      'select',
      { 'aria-label': `State to purge from ${q.name}` },
      ['failed', 'done', 'cancelled', 'queued'].map((s) => el('option', { value: s, text: s })),
    );
    const purge = el('button', {
      type: 'button',
      class: 'danger',
      'data-action': 'purge',
      'aria-label': `Purge queue ${q.name}`,
      text: 'Purge',
      onclick: async (event) => {
        const clicked = event.currentTarget;  // unset once the handler awaits
        const state = purgeState.value;
        const question = `Delete every ${state} job of queue “${q.name}” (${count(q.counts[state])}) with its history? This cannot be undone.`;
        if (!(await confirmAction(question, 'Delete'))) return;
        const ok = await act(clicked, status, async () => {
          const { count: n } = await api('POST', `${path}/purge?state=${state}`);
          return `${count(n)} ${state} jobs of ${q.name} deleted.`;
        });
        if (ok) reload();
      },
    });
    const rate = q.rate_limit ? `${q.rate_limit.per_second}/s, burst ${q.rate_limit.burst}` : '—';
    return el(
      'tr',
      { 'data-queue': q.name },
      el('td', {}, el('a', { href: `#/jobs?queue=${encodeURIComponent(q.name)}`, text: q.name })),
      stateCounts(q.counts),
      el('td', { class: 'queue-status', text: q.paused ? 'paused' : 'running' }),
      el('td', { class: 'num', text: q.concurrency === null ? 'no limit' : count(q.concurrency) }),
      el('td', { text: rate }),
      numCell(q.weight),
      el('td', { class: 'num', text: duration(q.oldest_runnable_age_ms) }),
      numCell(q.finished_last_minute),
      el('td', { class: 'actions' }, pause, retry, purgeState, purge),
    );
  }

  // --- jobs

  function jobsHash(filters, after) {
    const params = new URLSearchParams();
    for (const key of ['state', 'queue', 'type']) if (filters[key]) params.set(key, filters[key]);
    if (after) params.set('after', after);
    const query = params.toString();
    return query ? `#/jobs?${query}` : '#/jobs';
  }

  async function jobsView(params, signal) {
    const filters = { state: params.get('state') || '', queue: params.get('queue') || '', type: params.get('type') || '' };
    const after = params.get('after');
    const query = new URLSearchParams({ limit: String(pageSize) });
    for (const key of ['state', 'queue', 'type']) if (filters[key]) query.set(key, filters[key]);
    if (after) query.set('cursor', after);
    const page = await api('GET', `jobs?${query}`);
    if (signal.aborted) return;

    const stateSelect = el('select', { id: 'filter-state', name: 'state' }, el('option', { value: '', text: 'any' }), states.map((s) => el('option', { value: s, text: s, selected: s === filters.state })));
    const queueInput = el('input', { id: 'filter-queue', name: 'queue', value: filters.queue, placeholder: 'any' });
    const typeInput = el('input', { id: 'filter-type', name: 'type', value: filters.type, placeholder: 'any' });
    const filterForm = el(
      'form',
      {
        class: 'filters',
        role: 'search',
        onsubmit: (event) => {
          event.preventDefault();
          location.hash = jobsHash({ state: stateSelect.value, queue: queueInput.value.trim(), type: typeInput.value.trim() });
        },
      },
      el('label', {}, 'State', stateSelect),
      el('label', {}, 'Queue', queueInput),
      el('label', {}, 'Type', typeInput),
      el('button', { type: 'submit', class: 'primary', id: 'apply-filters', text: 'Filter' }),
    );
    const idInput = el('input', { id: 'job-id', inputmode: 'numeric', pattern: '[0-9]+', placeholder: 'job id', 'aria-label': 'Job id' });
    const searchForm = el(
      'form',
      {
        class: 'filters',
        onsubmit: (event) => {
          event.preventDefault();
          const id = idInput.value.trim();
          if (/^[0-9]+$/.test(id)) location.hash = `#/jobs/${id}`;
        },
      },
      idInput,
      el('button', { type: 'submit', text: 'Open job' }),
    );

    const rows = page.jobs.map((job) =>
      el(
        'tr',
        { 'data-job': job.id },
        el('td', {}, el('a', { href: `#/jobs/${job.id}`, text: String(job.id) })),
        el('td', {}, stateBadge(job.state)),
        el('td', { text: job.type }),
        el('td', { text: job.queue }),
        numCell(job.attempts),
        el('td', {}, time(job.created_at)),
        el('td', {}, time(job.finished_at)),
        el('td', { class: 'error-text', text: job.last_error ? job.last_error.slice(0, 120) : '' }),
      ),
    );
    const filtered = filters.state || filters.queue || filters.type;
    const pager = el(
      'div',
      { class: 'pager' },
      after ? el('a', { href: jobsHash(filters), id: 'first-page', text: '« First page' }) : null,
      page.next_cursor ? el('a', { href: jobsHash(filters, page.next_cursor), id: 'next-page', text: 'Next page »' }) : null,
      el('span', { class: 'muted', text: `${page.jobs.length} shown, in id order` }),
    );
    show(
      el('h1', { text: 'Jobs' }),
      filterForm,
      searchForm,
      page.jobs.length
        ? table(['ID', 'State', 'Type', 'Queue', { label: 'Attempts', num: true }, 'Created', 'Finished', 'Last error'], rows, { id: 'jobs-table' })
        : empty(filtered ? 'No job matches these filters. Clear a filter to see more.' : 'No jobs yet. Submit one with POST /jobs, or jobq enqueue.'),
      pager,
    );
  }

  function pretty(value) {
    return el('pre', { text: value === undefined ? '—' : JSON.stringify(value, null, 2) });
  }

  // Draws a job; `status` (the outcome of its actions) is kept across redraws.
  function renderJob(id, job, history, status) {
    const reload = () => route();
    const button = (label, action, enabled, run) =>
      el('button', {
        type: 'button',
        'data-action': action,
        disabled: !enabled,
        text: label,
        onclick: async (event) => {
          const clicked = event.currentTarget;  // unset once the handler awaits
          if (await act(clicked, status, run)) reload();
        },
      });
    const actions = el(
      'div',
      { class: 'filters' },
      button('Retry', 'retry', job.state === 'failed' || job.state === 'cancelled', () => api('POST', `jobs/${id}/retry`)),
      button('Cancel', 'cancel', job.state === 'queued', () => api('POST', `jobs/${id}/cancel`)),
      el('button', {
        type: 'button',
        class: 'danger',
        'data-action': 'delete',
        disabled: job.state === 'processing',
        text: 'Delete',
        onclick: async (event) => {
          const clicked = event.currentTarget;  // unset once the handler awaits
          if (!(await confirmAction(`Delete job ${id} and its history? This cannot be undone.`, 'Delete'))) return;
          if (await act(clicked, status, () => api('DELETE', `jobs/${id}`))) location.hash = '#/jobs';
        },
      }),
    );
    const field = (label, value) => [el('dt', { text: label }), el('dd', {}, value)];
    const fields = el(
      'dl',
      { class: 'fields', id: 'job-fields' },
      field('State', stateBadge(job.state)),
      field('Type', job.type),
      field('Queue', job.queue),
      field('Priority', count(job.priority)),
      field('Attempts', `${count(job.attempts)} of ${count(job.max_retries + 1)} (${count(job.attempts_total)} in all)`),
      field('Run at', time(job.run_at)),
      field('Created', time(job.created_at)),
      field('Started', time(job.started_at)),
      field('Finished', time(job.finished_at)),
      field('Idempotency key', job.idempotency_key || '—'),
      field('Worker', job.worker || '—'),
      field('Last error', el('span', { class: 'error-text', id: 'last-error', text: job.last_error || '—' })),
    );
    const attempts = history.attempts.map((a) =>
      el(
        'tr',
        {},
        numCell(a.attempt),
        el('td', { text: a.outcome }),
        el('td', {}, time(a.started_at)),
        el('td', {}, time(a.finished_at)),
        el('td', { class: 'num', text: duration(a.duration_ms) }),
        el('td', { class: 'error-text', text: a.error || '' }),
      ),
    );
    show(
      el('h1', {}, `Job ${id} `, stateBadge(job.state)),
      status,
      actions,
      el(
        'div',
        { class: 'two' },
        el('section', {}, el('h2', { text: 'Fields' }), fields),
        el('section', {}, el('h2', { text: 'Payload' }), el('div', { id: 'payload' }, pretty(job.payload)), el('h2', { text: 'Result' }), el('div', { id: 'result' }, pretty(job.result))),
      ),
      el('h2', { text: 'Attempts' }),
      attempts.length
        ? table([{ label: '#', num: true }, 'Outcome', 'Started', 'Finished', { label: 'Duration', num: true }, 'Error'], attempts, { id: 'attempts-table' })
        : empty('Not run yet.'),
    );
  }

  // A job on its way shows where it got to without a reload: looked at again every second
  // while it runs or is about to, every ten while it waits for later, and drawn again only
  // when it changed, with the focus kept on the button that had it.
  async function jobView(id, signal) {
    const status = el('div');
    let drawn = null;
    for (;;) {
      let job, history;
      try {
        [job, history] = await Promise.all([api('GET', `jobs/${id}`), api('GET', `jobs/${id}/attempts`)]);
      } catch (error) {
        // Drawn once already: a failed look is said, and the next one may do better.
        if (drawn === null || signal.aborted || (error instanceof ApiError && (error.refusedToken || error.status === 404))) throw error;
        status.replaceChildren(notice(`Could not refresh: ${error.message}`, 'bad'));
        await sleep(5000, signal);
        if (signal.aborted) return;
        continue;
      }
      if (signal.aborted) return;
      const seen = JSON.stringify([job, history]);
      if (seen !== drawn) {
        const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.action : null;
        renderJob(id, job, history, status);
        drawn = seen;
        const again = focused ? main.querySelector(`button[data-action="${focused}"]`) : null;
        if (again && !again.disabled) again.focus();
      }
      if (job.state !== 'queued' && job.state !== 'processing') return;
      const soon = job.state === 'processing' || Date.parse(job.run_at) - Date.now() < 5000;
      await sleep(soon ? 1000 : 10000, signal);
      if (signal.aborted) return;
    }
  }

  // --- schedules

  async function schedulesView(signal) {
    const { schedules } = await api('GET', 'schedules');
    if (signal.aborted) return;
    const status = el('div');
    const rows = schedules.map((s) => {
      const path = `schedules/${segment(s.name)}`;
      const toggle = el('button', {
        type: 'button',
        'data-action': s.paused ? 'resume' : 'pause',
        text: s.paused ? 'Resume' : 'Pause',
        onclick: async (event) => {
          const clicked = event.currentTarget;  // unset once the handler awaits
          const spec = { cron: s.cron, timezone: s.timezone, job: s.job, catch_up: s.catch_up, paused: !s.paused };
          if (await act(clicked, status, () => api('PUT', path, spec))) route();
        },
      });
      const trigger = el('button', {
        type: 'button',
        'data-action': 'trigger',
        text: 'Run now',
        onclick: async (event) => {
          const clicked = event.currentTarget;  // unset once the handler awaits
          await act(clicked, status, async () => {
            const job = await api('POST', `${path}/trigger`);
            return `Job ${job.id} stored from schedule ${s.name}.`;
          });
        },
      });
      return el(
        'tr',
        { 'data-schedule': s.name },
        el('td', { text: s.name }),
        el('td', {}, code(s.cron)),
        el('td', { text: s.timezone }),
        el('td', { text: `${s.job.type} → ${s.job.queue}` }),
        el('td', {}, time(s.next_run_at)),
        el('td', {}, time(s.last_run_at)),
        el('td', {}, s.last_job_id ? el('a', { href: `#/jobs/${s.last_job_id}`, text: String(s.last_job_id) }) : '—'),
        el('td', { text: s.paused ? 'paused' : 'active' }),
        el('td', { class: 'actions' }, toggle, trigger),
      );
    });
    show(
      el('h1', { text: 'Schedules' }),
      status,
      schedules.length
        ? table(['Name', 'Cron', 'Zone', 'Job', 'Next run', 'Last run', 'Last job', 'Status', 'Actions'], rows, { id: 'schedules-table' })
        : empty('No schedules. Create one with ', code('PUT /schedules/{name}'), ', e.g. {"cron": "*/5 * * * *", "job": {"type": "noop", "payload": {}}}.'),
    );
  }

  // --- workers

  async function workersView(signal) {
    const [{ workers, window_ms: windowMs }, stats] = await Promise.all([api('GET', 'workers'), api('GET', 'stats')]);
    if (signal.aborted) return;
    const rows = workers.map((w) =>
      el('tr', { 'data-worker': w.name }, el('td', { text: w.name }), numCell(w.leases), el('td', {}, time(w.last_seen_at))),
    );
    show(
      el('h1', { text: 'Workers' }),
      el('p', { class: 'hint', text: `Built-in workers: ${count(stats.workers.busy)} busy of ${count(stats.workers.total)}.` }),
      el('h2', { text: `External workers seen in the last ${Math.round(windowMs / 60000)} minutes` }),
      workers.length
        ? table(['Name', { label: 'Leases held', num: true }, 'Last contact'], rows, { id: 'workers-table' })
        : empty('No external worker has asked for a lease lately. Start one with ', code('jobq work --type TYPE -- PROGRAM'), ' (it names itself host:pid), or ask POST /leases with a "worker" name.'),
    );
  }

  // --- routing

  let current = null;

  async function route() {
    if (current) current.abort();
    current = new AbortController();
    const signal = current.signal;
    setLive(null);
    updateForgetButton();
    const hash = location.hash.slice(1) || '/';
    const [path, query] = hash.split('?');
    const params = new URLSearchParams(query || '');
    const view = path.startsWith('/jobs') ? 'jobs' : path.slice(1) || 'overview';
    for (const link of document.querySelectorAll('.top nav a')) {
      if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const job = path.match(/^\/jobs\/([0-9]+)$/);
    try {
      if (path === '/') await overview(signal);
      else if (path === '/queues') await queuesView(signal);
      else if (path === '/jobs') await jobsView(params, signal);
      else if (job) await jobView(job[1], signal);
      else if (path === '/schedules') await schedulesView(signal);
      else if (path === '/workers') await workersView(signal);
      else show(el('h1', { text: 'Not found' }), empty('No such view. ', el('a', { href: '#/', text: 'Back to the overview' })));
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.refusedToken) showLogin(refusedMessage(error));
      else if (error instanceof ApiError && error.status === 404) show(el('h1', { text: 'Not found' }), notice(error.message, 'bad'));
      else show(el('h1', { text: 'Cannot reach jobq' }), notice(error.message, 'bad'), el('button', { type: 'button', onclick: route, text: 'Try again' }));
    }
  }

  // The skip link moves the focus, not the route (its #main is not a view).
  document.querySelector('.skip').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });

  window.addEventListener('hashchange', () => {
    route();
    main.focus();
  });
  route();
})();
