"""Self-contained HTML reports (open ``report.html#oak`` to start with the records filtered by "oak"): one per run (``rememberer report RUN_DIR``) and one per memory
(``rememberer memory report``).

One file, no network: the figures are PNGs inlined as data URIs, the style and the small
filter script are inline. A run report shows the summary table (phases in protocol order),
the learning curve with labelled reference lines, every episode's outcome, the Q-value
distribution of the memory and its records with their advice; a memory report shows the last
two.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rememberer.runner import ordered_phases, plot_learning_curve

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17702f;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#777}
figure{margin:8px 0;display:inline-block;vertical-align:top}figcaption{font-size:12px;color:#555}
details{border:1px solid #e4e4e4;border-radius:4px;margin:4px 0;padding:4px 8px}summary{cursor:pointer}
pre{white-space:pre-wrap;margin:4px 0;font-size:12px;background:#fafafa;padding:4px}
input[type=search]{width:320px;padding:4px}
"""

SCRIPT = """
function filterRecords(){const q=document.getElementById('record-filter').value.toLowerCase();let n=0;
document.querySelectorAll('#records details').forEach(d=>{const show=!q||d.dataset.text.includes(q);d.style.display=show?'':'none';if(show)n++;});
document.getElementById('record-count').textContent=n+' of '+document.querySelectorAll('#records details').length+' records shown';}
document.addEventListener('DOMContentLoaded',()=>{if(location.hash.length>1){document.getElementById('record-filter').value=decodeURIComponent(location.hash.slice(1));}filterRecords();});
"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _figure(src: str, caption: str, figure_id: str) -> str:
    return f'<figure id="{figure_id}"><img src="{src}" alt="{html.escape(caption)}" width="560"><figcaption>{html.escape(caption)}</figcaption></figure>'


def q_histogram(records: list[Any], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs = [a.q for r in records for a in r.actions]
    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=100)
    ax.hist(qs or [0.0], bins=[i / 20 for i in range(21)], color="tab:purple", alpha=0.8 if qs else 0.0, edgecolor="white")
    ax.set_xlabel("Q value of a stored action")
    ax.set_ylabel("actions")
    ax.set_title(f"{title}: {len(qs)} actions in {len(records)} records", fontsize=9)
    fig.tight_layout()
    src = _png(fig)
    plt.close(fig)
    return src


def learning_curve_png(summary: dict[str, Any]) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curve.png"
        plot_learning_curve(summary, path)
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _summary_table(summary: dict[str, Any]) -> str:
    rows = [(f"train epoch {int(e) + 1} (solved so far {b['solved_so_far']:.0%})", b) for e, b in summary["train_epochs"].items()]
    rows += [(p, summary["phases"][p]) for p in ordered_phases(summary["phases"]) if p != "train"]
    out = ['<table id="summary"><tr><th>phase</th><th>episodes</th><th>success</th><th>mean reward</th><th>mean steps</th>'
           '<th>no-op fallbacks</th><th>tokens</th><th>wall s</th></tr>']
    for name, b in rows:
        if not b.get("episodes"):
            continue
        out.append(f"<tr><td>{html.escape(name)}</td><td class=n>{b['episodes']}</td><td class=n>{b['success_rate']:.0%}</td>"
                   f"<td class=n>{b['mean_reward']:.3f}</td><td class=n>{b['mean_steps']}</td><td class=n>{b['fallback_steps']}</td>"
                   f"<td class=n>{b['prompt_tokens'] + b['completion_tokens']:,}</td><td class=n>{b['wall_seconds']}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _episodes_table(episodes: list[dict[str, Any]]) -> str:
    out = ['<table id="episodes"><tr><th>phase</th><th>epoch</th><th>goal</th><th>outcome</th><th>reward</th><th>steps</th>'
           '<th>no-ops</th><th>actions</th></tr>']
    for e in episodes:
        outcome = ('<span class="bad">error</span>' if e.get("error") else
                   '<span class="ok">solved</span>' if e["success"] else '<span class="bad">failed</span>')
        actions = " → ".join(html.escape(str(a)) for a in e.get("actions", []))
        out.append(f"<tr><td>{e['phase']}</td><td class=n>{e['epoch'] + 1}</td><td>{html.escape(e['goal_id'])}</td><td>{outcome}</td>"
                   f"<td class=n>{e['reward']:.2f}</td><td class=n>{e['steps']}</td><td class=n>{e['fallbacks']}</td>"
                   f"<td class=muted>{actions}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _records_section(records: list[Any]) -> str:
    records = sorted(records, key=lambda r: (-r.visits, r.task, r.observation))
    out = ['<p><input type="search" id="record-filter" placeholder="filter by task, observation or action" '
           'oninput="filterRecords()"> <span id="record-count" class="muted"></span></p><div id="records">']
    for r in records:
        actions = r.sorted_actions()
        best = actions[0] if actions else None
        text = " ".join([r.task, r.observation] + [a.action for a in actions]).lower()
        head = (f"<b>{html.escape(r.task)}</b> · {html.escape((r.observation.splitlines() or [''])[0][:90])} "
                f"<span class=muted>· {r.visits} visits · best {html.escape(best.action) + f' ({best.q:.2f})' if best else '-'}"
                f"{' · annotated' if r.pinned else ''}</span>")
        rows = "".join(
            f"<tr><td>{'Encouraged' if a.q > 0 else 'Discouraged'}</td><td>{html.escape(a.action)}</td><td class=n>{a.q:.3f}</td>"
            f"<td class=n>{a.visits}</td><td>{html.escape(a.reason)}</td></tr>" for a in actions)
        p = r.provenance
        out.append(
            f'<details class="record" data-text="{html.escape(text)}"><summary>{head}</summary><pre>{html.escape(r.observation)}</pre>'
            f"<table><tr><th>advice</th><th>action</th><th>Q</th><th>visits</th><th>reason</th></tr>{rows}</table>"
            f"<p class=muted>id {r.id} · source {p.source} · updated {datetime.fromtimestamp(p.updated_at):%Y-%m-%d %H:%M} · "
            f"runs {html.escape(', '.join(p.run_ids) or '-')}"
            f"{' · edits ' + html.escape(', '.join(p.edits)) if p.edits else ''}</p></details>")
    out.append("</div>")
    return "".join(out)


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>{body}</body></html>\n")


def _memory_sections(memory: Any, records: list[Any]) -> str:
    return (f"<h2>Memory</h2><p>{len(records)} records in <code>{html.escape(str(memory.path or getattr(memory, 'url', None)))}</code> "
            f"(namespace {html.escape(memory.namespace)}, embeddings {html.escape(memory.embedder.model_id)}).</p>"
            + _figure(q_histogram(records, memory.namespace), "Distribution of the stored Q values", "q-values")
            + "<h2>Records and their advice</h2>" + _records_section(records))


def run_report(run_dir: str | Path, out: str | Path | None = None, *, memory: Any = None) -> Path:
    """Write ``report.html`` into the run directory (or ``out``); returns its path."""
    directory = Path(run_dir)
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{directory} is not a finished run directory (missing {Path(exc.filename).name})") from None
    episodes = [json.loads(line) for line in (directory / "episodes.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    if memory is None and config.get("memory", {}).get("path"):
        from rememberer.memory.store import MemoryStoreError
        from rememberer.memory.tools import open_memory

        try:
            memory = open_memory(config["memory"]["path"], config["memory"]["namespace"])
        except MemoryStoreError:
            memory = None
    body = [f"<h1>Run {html.escape(summary['run_id'])}</h1>",
            f"<p>Task set <b>{html.escape(summary['task_set'])}</b>, model <code>{html.escape(str(summary['model_id']))}</code>, "
            f"wall time {summary['wall_seconds']} s, created {html.escape(config.get('created', ''))}.</p>",
            "<h2>Summary</h2>", _summary_table(summary),
            "<h2>Learning curve</h2>",
            _figure(learning_curve_png(summary), "Success per training epoch; evaluation phases as labelled reference lines", "learning-curve"),
            "<h2>Episodes</h2>", _episodes_table(episodes)]
    if memory is not None:
        body.append(_memory_sections(memory, list(memory.records())))
    else:
        body.append("<p class=muted>The run's memory is not available here.</p>")
    body.append(f"<h2>Settings</h2><pre>{html.escape(json.dumps(config.get('settings', {}), indent=1))}</pre>")
    target = Path(out) if out else directory / "report.html"
    target.write_text(_page(f"rememberer run {summary['run_id']}", "".join(body)), encoding="utf-8")
    return target


def memory_report(memory: Any, out: str | Path) -> Path:
    records = list(memory.records())
    body = f"<h1>Memory {html.escape(memory.namespace)}</h1>" + _memory_sections(memory, records)
    target = Path(out)
    target.write_text(_page(f"rememberer memory {memory.namespace}", body), encoding="utf-8")
    return target
