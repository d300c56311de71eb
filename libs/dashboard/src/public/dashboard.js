// The dashboard page: renders the server's state (server-sent events from /api/events) into one panel per app,
// two history charts and the last bench results. Chart.js comes from this app (/assets), never from a CDN.
const COLORS = ['#0969da', '#8250df', '#1a7f37', '#bf3989', '#bc4c00', '#57606a'];

const panels = new Map();
const connection = document.getElementById('connection');
const tokenInput = document.getElementById('admin-token');
let rpsChart;
let hitChart;

const format = {
  requestsPerSec: (v) => (v === null ? '–' : Math.round(v).toLocaleString('en')),
  hitRatio: (v) => (v === null ? '–' : `${(v * 100).toFixed(1)} %`),
  p50Ms: (v) => (v === null ? '–' : `${v.toFixed(1)} ms`),
  p99Ms: (v) => (v === null ? '–' : `${v.toFixed(1)} ms`),
  dbReadsPerSec: (v) => (v === null ? '–' : Math.round(v).toLocaleString('en')),
  staleReadsPerSec: (v) => (v === null ? '–' : Math.round(v).toLocaleString('en')),
  replicaShare: (v) => (v === null ? '–' : `${(v * 100).toFixed(0)} %`),
  replicaRefusedPerSec: (v) => (v === null ? '–' : Math.round(v).toLocaleString('en')),
  pending: (v) => (v === null ? '–' : v.toLocaleString('en')),
  lagMs: (v) => (v === null ? '–' : `${(v / 1000).toFixed(1)} s`),
  hotKeys: (v) => (v === null ? '–' : v.toLocaleString('en')),
};

function authHeaders() {
  const token = tokenInput.value.trim();
  return token === '' ? {} : { authorization: `Bearer ${token}` };
}

async function post(path) {
  const response = await fetch(path, { method: 'POST', headers: authHeaders() });
  if (response.ok) return null;
  const body = await response.json().catch(() => ({}));
  return `${response.status}: ${body.message ?? response.statusText}`;
}

function createPanel(state) {
  const template = document.getElementById('panel-template');
  const element = template.content.firstElementChild.cloneNode(true);
  const titleId = `panel-${state.name}-title`;
  element.dataset.app = state.name;
  element.setAttribute('aria-labelledby', titleId);
  const title = element.querySelector('h3');
  title.id = titleId;
  title.textContent = state.name;
  element.querySelector('progress').setAttribute('aria-label', `Load against ${state.name}`);
  const message = element.querySelector('.message');
  const loadButton = element.querySelector('[data-action="load"]');
  const clearButton = element.querySelector('[data-action="clear"]');
  loadButton.setAttribute('aria-label', `Run a 10 second load against ${state.name}`);
  clearButton.setAttribute('aria-label', `Clear the cache of ${state.name}`);
  loadButton.addEventListener('click', async () => {
    loadButton.disabled = true;
    message.textContent = 'Starting a load…';
    const error = await post(`/api/apps/${state.name}/load`);
    message.textContent = error ?? 'Load started: 10 s of Zipf reads, 5 % writes';
  });
  clearButton.addEventListener('click', async () => {
    clearButton.disabled = true;
    message.textContent = 'Clearing…';
    const error = await post(`/api/apps/${state.name}/cache/clear`);
    message.textContent = error ?? 'Cache cleared: the next reads are misses';
    clearButton.disabled = false;
  });
  if (!state.canClear) {
    clearButton.disabled = true;
    clearButton.title = 'Write-behind holds changes PostgreSQL does not have yet: its cache is never cleared';
  }
  document.getElementById('panels').append(element);
  return element;
}

function renderPanel(state) {
  const element = panels.get(state.name) ?? createPanel(state);
  panels.set(state.name, element);
  element.dataset.status = state.status;
  element.querySelector('.status').textContent = state.status;
  element.querySelector('.detail').textContent = state.detail ?? '';
  for (const [metric, show] of Object.entries(format)) {
    element.querySelector(`[data-metric="${metric}"]`).textContent = show(state[metric]);
  }
  element.querySelector('[data-metric="reads"]').textContent =
    state.reads === null ? '–' : `${state.reads.toLocaleString('en')} (${state.hits.toLocaleString('en')})`;
  const load = state.load;
  const running = load !== null && (load.phase === 'preparing' || load.phase === 'running');
  element.querySelector('[data-action="load"]').disabled = running || state.status === 'down';
  const progress = element.querySelector('progress');
  progress.value = load === null ? 0 : Math.round((load.elapsedMs / load.durationMs) * 100);
  element.dataset.load = load === null ? 'none' : load.phase;
  element.querySelector('.load-text').textContent =
    load === null
      ? ''
      : load.phase === 'failed'
        ? `failed: ${load.message}`
        : `${load.phase}: ${load.requests.toLocaleString('en')} requests, ${load.errors} errors`;
}

function lineChart(canvas, yOptions) {
  return new window.Chart(canvas, {
    type: 'line',
    data: { labels: [], datasets: [] },
    options: {
      animation: false,
      responsive: true,
      scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true, ...yOptions } },
      elements: { point: { radius: 0 } },
    },
  });
}

function renderCharts(state) {
  if (window.Chart === undefined) return;
  rpsChart ??= lineChart(document.getElementById('rps-chart'), {});
  hitChart ??= lineChart(document.getElementById('hit-chart'), { max: 1 });
  const longest = state.panels.reduce((a, p) => (p.history.length > a.length ? p.history : a), []);
  const labels = longest.map((point) => `${Math.round((point.at - state.at) / 1000)} s`);
  for (const [chart, field] of [
    [rpsChart, 'requestsPerSec'],
    [hitChart, 'hitRatio'],
  ]) {
    chart.data.labels = labels;
    chart.data.datasets = state.panels.map((panel, i) => ({
      label: panel.name,
      data: panel.history.map((point) => point[field]),
      borderColor: COLORS[i % COLORS.length],
      backgroundColor: COLORS[i % COLORS.length],
    }));
    chart.update();
  }
}

function render(state) {
  for (const panel of state.panels) renderPanel(panel);
  renderCharts(state);
  connection.textContent = `Live: updated ${new Date(state.at).toLocaleTimeString('en')}`;
}

async function renderBench() {
  const note = document.getElementById('bench-note');
  const response = await fetch('/api/bench').catch(() => null);
  if (response === null || !response.ok) {
    note.textContent = 'No bench results yet: run npm run bench.';
    return;
  }
  const bench = await response.json();
  const rows = bench.results.filter((row) => row.workload.startsWith('read-heavy'));
  note.textContent = `${bench.quick ? 'Quick run' : 'Full run'} of ${bench.date} on ${bench.machine}: read-heavy workloads, requests/s.`;
  const waitForChart = () =>
    window.Chart === undefined ? new Promise((resolve) => setTimeout(() => resolve(waitForChart()), 50)) : null;
  await waitForChart();
  new window.Chart(document.getElementById('bench-chart'), {
    type: 'bar',
    data: {
      labels: rows.map((row) => `${row.server} (${row.adapter}, ${row.workload.replace('read-heavy ', '')})`),
      datasets: [{ label: 'requests/s', data: rows.map((row) => row.rps), backgroundColor: COLORS[0] }],
    },
    options: { indexAxis: 'y', animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
  });
}

function connect() {
  const events = new EventSource('/api/events');
  events.onmessage = (event) => render(JSON.parse(event.data));
  events.onerror = () => {
    connection.textContent = 'Dashboard unreachable: reconnecting…';
  };
}

document.getElementById('token-form').addEventListener('submit', (event) => event.preventDefault());
connect();
void renderBench();
