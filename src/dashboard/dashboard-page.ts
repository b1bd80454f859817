/**
 * GET /dashboard: one self-contained page (no CDN, no build step, works offline) that polls the
 * aggregated /metrics and draws the last minutes of traffic per backend. The script avoids template
 * literals so it can live inside this string.
 */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>inference-proxy</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #status { color: #555; margin-bottom: 12px; }
  #status.error { color: #b00020; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px; }
  .panel { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
  .panel h2 { font-size: 13px; margin: 0 0 6px; font-weight: 600; }
  canvas { width: 100%; height: 180px; display: block; }
  .legend { font-size: 12px; color: #444; min-height: 16px; }
  .legend span { margin-right: 10px; white-space: nowrap; }
  .legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
</style>
</head>
<body>
<h1>inference-proxy</h1>
<div id="status">loading /metrics ...</div>
<div class="grid" id="grid"></div>
<script>
(function () {
  'use strict';
  var POLL_MS = 2000;
  var HISTORY_MS = 10 * 60 * 1000;
  var QUANTILE_WINDOW_MS = 30 * 1000;
  var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  var CHARTS = [
    { id: 'qps', title: 'Requests per second (in / out)', unit: 'req/s' },
    { id: 'inflight', title: 'In-flight requests', unit: '' },
    { id: 'ttft', title: 'Time to first token p50 / p99 (last 30 s)', unit: 's' },
    { id: 'throughput', title: 'Decoding throughput p50 / p99 (last 30 s)', unit: 'tok/s' },
    { id: 'tokens', title: 'Tokens per second (prompt / completion)', unit: 'tok/s' }
  ];
  var snapshots = [];
  var series = {};
  var grid = document.getElementById('grid');
  var statusEl = document.getElementById('status');
  var dashboard = { polls: 0, errors: 0, points: {} };
  window.__dashboard = dashboard;

  CHARTS.forEach(function (chart) {
    var panel = document.createElement('div');
    panel.className = 'panel';
    panel.innerHTML = '<h2></h2><canvas></canvas><div class="legend"></div>';
    panel.querySelector('h2').textContent = chart.title;
    chart.canvas = panel.querySelector('canvas');
    chart.canvas.id = 'chart-' + chart.id;
    chart.legend = panel.querySelector('.legend');
    grid.appendChild(panel);
    series[chart.id] = {};
  });

  function parseLabels(text) {
    var labels = {};
    var re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    var m;
    while ((m = re.exec(text)) !== null) labels[m[1]] = m[2].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    return labels;
  }

  function parse(text) {
    var out = {};
    text.split('\n').forEach(function (line) {
      if (line === '' || line.charAt(0) === '#') return;
      var m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) return;
      (out[m[1]] = out[m[1]] || []).push({ labels: parseLabels(m[2] || ''), value: Number(m[3]) });
    });
    return out;
  }

  function sumBy(metrics, name, url, extra) {
    var total = 0;
    (metrics[name] || []).forEach(function (s) {
      if (s.labels.url !== url) return;
      if (extra && !extra(s.labels)) return;
      total += s.value;
    });
    return total;
  }

  function backends(metrics) {
    var seen = {};
    (metrics.input_requests_total || []).forEach(function (s) { seen[s.labels.url] = true; });
    (metrics.in_flight_requests || []).forEach(function (s) { seen[s.labels.url] = true; });
    return Object.keys(seen).sort();
  }

  function bucketsOf(metrics, name, url) {
    var byLe = {};
    (metrics[name + '_bucket'] || []).forEach(function (s) {
      if (s.labels.url !== url) return;
      byLe[s.labels.le] = (byLe[s.labels.le] || 0) + s.value;
    });
    return byLe;
  }

  // Prometheus' histogram_quantile: linear interpolation inside the bucket that holds the rank.
  function quantile(q, now, then) {
    var les = Object.keys(now).filter(function (le) { return le !== '+Inf'; }).map(Number).sort(function (a, b) { return a - b; });
    var total = (now['+Inf'] || 0) - ((then && then['+Inf']) || 0);
    if (total <= 0) return null;
    var rank = q * total;
    var prevLe = 0;
    var prevCount = 0;
    for (var i = 0; i < les.length; i++) {
      var key = String(les[i]);
      var count = (now[key] || 0) - ((then && then[key]) || 0);
      if (count >= rank) {
        var inBucket = count - prevCount;
        return inBucket <= 0 ? les[i] : prevLe + (les[i] - prevLe) * ((rank - prevCount) / inBucket);
      }
      prevLe = les[i];
      prevCount = count;
    }
    return les.length ? les[les.length - 1] : null;
  }

  function snapshotAt(ms) {
    for (var i = snapshots.length - 1; i >= 0; i--) if (snapshots[i].t <= ms) return snapshots[i];
    return snapshots[0];
  }

  function push(chartId, name, t, value) {
    if (value === null || !isFinite(value)) return;
    var list = (series[chartId][name] = series[chartId][name] || []);
    list.push([t, value]);
    while (list.length && list[0][0] < t - HISTORY_MS) list.shift();
  }

  function update(metrics, t) {
    var prev = snapshots.length ? snapshots[snapshots.length - 1] : null;
    var windowStart = snapshotAt(t - QUANTILE_WINDOW_MS);
    snapshots.push({ t: t, metrics: metrics });
    while (snapshots.length && snapshots[0].t < t - HISTORY_MS) snapshots.shift();
    backends(metrics).forEach(function (url) {
      var short = url.replace(/^https?:\/\//, '');
      push('inflight', short, t, sumBy(metrics, 'in_flight_requests', url));
      if (!prev) return;
      var dt = (t - prev.t) / 1000;
      var rate = function (name) { return Math.max(0, sumBy(metrics, name, url) - sumBy(prev.metrics, name, url)) / dt; };
      push('qps', short + ' in', t, rate('input_requests_total'));
      push('qps', short + ' out', t, rate('output_requests_total'));
      push('tokens', short + ' prompt', t, rate('prompt_tokens_total'));
      push('tokens', short + ' completion', t, rate('completion_tokens_total'));
      var base = windowStart && windowStart !== snapshots[snapshots.length - 1] ? windowStart.metrics : null;
      var ttftNow = bucketsOf(metrics, 'time_to_first_token_seconds', url);
      var ttftThen = base ? bucketsOf(base, 'time_to_first_token_seconds', url) : null;
      push('ttft', short + ' p50', t, quantile(0.5, ttftNow, ttftThen));
      push('ttft', short + ' p99', t, quantile(0.99, ttftNow, ttftThen));
      var tpNow = bucketsOf(metrics, 'decoding_throughput_tokens_per_second', url);
      var tpThen = base ? bucketsOf(base, 'decoding_throughput_tokens_per_second', url) : null;
      push('throughput', short + ' p50', t, quantile(0.5, tpNow, tpThen));
      push('throughput', short + ' p99', t, quantile(0.99, tpNow, tpThen));
    });
    var alive = (metrics.workers_alive || [{ value: 0 }])[0].value;
    statusEl.className = '';
    statusEl.textContent = 'workers alive: ' + alive + ' \u00b7 backends: ' + backends(metrics).join(', ') + ' \u00b7 updated ' + new Date(t).toLocaleTimeString();
  }

  function format(v, unit) {
    var abs = Math.abs(v);
    if (v === 0) return unit ? '0 ' + unit : '0';
    var text = abs >= 1000 ? (v / 1000).toFixed(1) + 'k' : abs >= 10 ? v.toFixed(0) : abs >= 1 ? v.toFixed(1) : v.toFixed(3);
    return unit ? text + ' ' + unit : text;
  }

  function draw(chart) {
    var canvas = chart.canvas;
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth;
    var height = canvas.clientHeight;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    var ctx = canvas.getContext('2d');
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, width, height);
    var names = Object.keys(series[chart.id]).sort();
    var now = Date.now();
    var oldest = now;
    var max = 0;
    var points = 0;
    names.forEach(function (n) { series[chart.id][n].forEach(function (p) { max = Math.max(max, p[1]); oldest = Math.min(oldest, p[0]); points++; }); });
    // Until ten minutes of history exist, the time axis spans what there is (at least a minute).
    var span = Math.min(HISTORY_MS, Math.max(60 * 1000, now - oldest));
    var tMin = now - span;
    max = max > 0 ? max * 1.1 : 1;
    var left = 52, right = 8, top = 8, bottom = 20;
    ctx.strokeStyle = '#e5e5e5';
    ctx.fillStyle = '#777';
    ctx.font = '11px system-ui, sans-serif';
    for (var g = 0; g <= 4; g++) {
      var y = top + (height - top - bottom) * (1 - g / 4);
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(width - right, y); ctx.stroke();
      ctx.fillText(format(max * g / 4, ''), 4, y + 4);
    }
    ctx.fillText('-' + Math.round(span / 60000) + ' min', left, height - 4);
    ctx.fillText('now', width - right - 22, height - 4);
    var legend = [];
    names.forEach(function (n, i) {
      var color = COLORS[i % COLORS.length];
      var list = series[chart.id][n];
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      list.forEach(function (p, j) {
        var x = left + (width - left - right) * ((p[0] - tMin) / span);
        var y = top + (height - top - bottom) * (1 - p[1] / max);
        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      if (list.length === 1) ctx.arc(left + (width - left - right) * ((list[0][0] - tMin) / span), top + (height - top - bottom) * (1 - list[0][1] / max), 2, 0, 7);
      ctx.stroke();
      var last = list.length ? list[list.length - 1][1] : null;
      legend.push('<span><i style="background:' + color + '"></i>' + n.replace(/</g, '&lt;') + (last === null ? '' : ': ' + format(last, chart.unit)) + '</span>');
    });
    chart.legend.innerHTML = legend.join('') || '<span>no data yet</span>';
    canvas.setAttribute('data-points', String(points));
    dashboard.points[chart.id] = points;
  }

  function poll() {
    fetch('metrics', { cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.text();
      })
      .then(function (text) {
        update(parse(text), Date.now());
        dashboard.polls++;
        CHARTS.forEach(draw);
      })
      .catch(function (err) {
        dashboard.errors++;
        statusEl.className = 'error';
        statusEl.textContent = 'cannot read /metrics: ' + err.message;
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  window.addEventListener('resize', function () { CHARTS.forEach(draw); });
  poll();
})();
</script>
</body>
</html>
`;
