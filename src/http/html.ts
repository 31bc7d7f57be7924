import { escapeHtml } from '../lib/html.js';

/** A complete, self-contained page: no external assets. */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
th{width:14rem;font-weight:600}code{background:#f3f3f3;padding:0 .25rem;border-radius:3px}
.status{display:inline-block;padding:.1rem .6rem;border-radius:1rem;background:#e6e6e6;font-weight:600}
.ok{background:#d7f5dd}.warn{background:#fff1c2}.bad{background:#ffd9d9}
ul{margin:.2rem 0;padding-left:1.2rem}
a{color:#0b57a4}a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #f2a900;outline-offset:2px}
header .site{margin:0;font-weight:600;color:#555}
.field{margin:1rem 0}label{display:block;font-weight:600}
input{display:block;box-sizing:border-box;width:100%;max-width:28rem;font:inherit;padding:.5rem;margin-top:.25rem;border:1px solid #767676;border-radius:4px}
input[readonly]{background:#f3f3f3}input[aria-invalid=true]{border-color:#b3261e}
button{font:inherit;font-weight:600;padding:.55rem 1.2rem;border:0;border-radius:4px;background:#0b57a4;color:#fff;cursor:pointer}
.hint{margin:.1rem 0;color:#555;font-size:.9rem}
.error{margin:.4rem 0;padding:.4rem .6rem;border-left:4px solid #b3261e;background:#fdecea;color:#8c1d18}
.notice{padding:.4rem .6rem;border-left:4px solid #1e7b34;background:#e6f4ea}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
.links{list-style:none;padding:0}.links li{margin:.4rem 0}
</style>
</head>
<body>
${body}
</body>
</html>`;
}
