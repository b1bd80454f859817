/**
 * GET /dashboard: one self-contained page (no CDN, works offline). Its script is src/dashboard/page/*.ts,
 * compiled and inlined as built (see send-dashboard.ts).
 */
export function dashboardHtml(script: string): string {
  return `<!doctype html>
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
  #backends-panel { margin-bottom: 12px; }
  #backends { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  #backends th, #backends td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
  #backends th { font-weight: 600; font-size: 12px; color: #555; }
  #backends :is(th, td):is(:first-child, :nth-child(2), :last-child) { text-align: left; }
  #backends td[data-state="up"] { color: #1b7a1b; }
  #backends td[data-state="down"], #backends td[data-state="removed"] { color: #b00020; font-weight: 600; }
  #backends td[data-state="ejected"], #backends td[data-state="held"] { color: #b35900; font-weight: 600; }
  #tenants-panel { margin-bottom: 12px; }
  #tenants { border-collapse: collapse; font-variant-numeric: tabular-nums; }
  #tenants th, #tenants td { padding: 3px 10px; text-align: right; border-bottom: 1px solid #eee; white-space: nowrap; }
  #tenants th { font-weight: 600; font-size: 12px; color: #555; }
  #tenants :is(th, td):is(:first-child, :nth-child(4)) { text-align: left; }
</style>
</head>
<body>
<h1>inference-proxy</h1>
<div id="status">loading history ...</div>
<div class="panel" id="backends-panel">
<h2>Backends: state from /healthz; answered, share and retries over the last minute (retries count where the backend failed)</h2>
<table id="backends"></table>
</div>
<div class="panel" id="tenants-panel" hidden>
<h2>Keys: requests, tokens per second and rejections over the last minute (this page's polls), budget left now</h2>
<table id="tenants"></table>
</div>
<div class="grid" id="grid"></div>
<script type="module">
${script}</script>
</body>
</html>
`;
}
