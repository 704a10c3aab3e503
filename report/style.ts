/** The run report's stylesheet (inline: the page is self-contained). */
export const PAGE_STYLE = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c9d3de}
main{padding:18px 28px;max-width:1200px}section{background:#fff;border-radius:8px;padding:14px 18px;margin:0 0 16px;box-shadow:0 1px 2px #0001}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:10px}.card{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 2px #0001}
.card b{display:block;font-size:18px;overflow-wrap:anywhere}.card b.long{font-size:13px}
.legend{list-style:none;margin:4px 0 0;padding:0;font-size:12px}.legend li{display:inline-block;margin-right:12px}
.swatch{display:inline-block;width:14px;height:3px;margin-right:5px;vertical-align:middle}.swatch.ref{border-top:2px dashed #b8c2cc;height:0}.card span{color:#5b6b7c;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;flex:0 1 380px}figure.wide{flex:1 1 480px}figcaption{font-weight:600;margin-bottom:4px}figure p.note{font-size:12px;color:#555;margin:4px 0 0}
svg{max-width:100%;height:auto;background:#fbfcfd;border:1px solid #e3e7ec;border-radius:6px}.axis{stroke:#7b8794}.ref{stroke:#b8c2cc;stroke-dasharray:4 4;fill:none}
.tick{font-size:10px;fill:#4a5866}.label{font-size:11px;fill:#1d2733}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border-bottom:1px solid #e3e7ec;padding:4px 10px;text-align:left}th{background:#f0f3f6}
.decision{font-weight:600}.promoted,.first{color:#1e8449}.challenger{color:#b9770e}code{background:#f0f3f6;padding:1px 4px;border-radius:3px}
@media print{body{background:#fff}section{box-shadow:none;border:1px solid #ddd}}
`;
