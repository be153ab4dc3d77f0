"""Reports of a :func:`ulpflow.nets.driver.run`: the one-screen summary, JSON, Markdown and a
self-contained HTML page with plots.

* :func:`summary_lines` — the screen ``ulpflow run`` prints: theorem, network size, inputs
  checked, ``N inputs, 0 mismatches`` (or the count and the first divergence), hardware size,
  Fmax, time per stage;
* :func:`to_json` — every number of the run (the failing inputs of a negative control too);
* :func:`plots` — PNG figures drawn with matplotlib (Agg): the target and the network's output
  over the domain (failing inputs marked), the failing inputs alone, the time per stage, and the
  network's layer widths beside the hardware's resources;
* :func:`to_markdown`, :func:`to_html` — the same content as a page; the HTML embeds the figures
  as ``data:`` URIs and needs no other file; :func:`write` writes ``report.md`` (with the PNGs
  beside it), ``report.json`` and ``report.html`` into a folder.
"""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from pathlib import Path

import numpy as np

__all__ = ["summary_lines", "to_json", "plots", "to_markdown", "to_html", "write", "verdict",
           "FAILING_SHOWN"]

#: How many failing inputs the Markdown/HTML tables list (the JSON lists up to 10x as many).
FAILING_SHOWN = 50


# ---------------------------------------------------------------------------- text
def verdict(res) -> str:
    """``PASS``, ``FAIL`` or, for a negative control, what it showed."""
    if res.negative_control:
        if res.golden_mismatches:
            return (f"NEGATIVE CONTROL: fails at {res.golden.mismatches} of {res.golden.checked} inputs"
                    + (f" and {res.intervals.mismatches} boxes" if res.intervals is not None and
                       res.intervals.mismatches else "") + " with its assumption broken")
        return "NEGATIVE CONTROL: no mismatch on this target although an assumption is broken"
    if not res.ok:
        return "FAIL"
    skipped = [s.name for s in res.stages if s.name in ("hardware", "verilator") and s.status == "skipped"]
    return "PASS (golden check only: no hardware run)" if skipped else "PASS"


def _secs(s):
    return "—" if s is None else (f"{s:.2f} s" if s < 10 else f"{s:.1f} s")


def _golden_line(res):
    g = res.golden
    what = "inputs" if res.target.whole_domain else "data points"
    s = f"{g.checked} {what}, {g.mismatches} mismatches"
    if res.intervals is not None:
        s += f"; interval semantics: {res.intervals.checked} boxes, {res.intervals.mismatches} mismatches"
    return s


def _hardware_lines(res):
    out = []
    hw = res.stage("hardware")
    if hw.status == "skipped":
        return [("hardware", f"skipped: {hw.detail}")]
    out.append(("hardware", hw.detail if hw.status == "ok" else f"FAILED: {hw.detail}"))
    v = res.stage("verilator")
    if v.status == "failed":
        out.append(("verilator", f"FAILED: {v.detail}"))
    elif res.hw_inputs is not None:
        n = res.hw_inputs.shape[0]
        out.append(("verilator", f"{n} inputs, {res.rtl_mismatch_count} mismatches against the golden network "
                                 f"({res.hardware.get('inputs', '')})"))
        if res.divergence:
            for line in res.divergence.splitlines():
                out.append(("", line))
    s = res.stage("synthesis")
    if s.status == "skipped":
        out.append(("synthesis", f"skipped: {s.detail}"))
    elif s.status in ("ok", "failed") and s.detail:
        out.append(("synthesis", s.detail))
    return out


def summary_lines(res) -> list:
    """``[(label, text), …]``: the one-screen summary."""
    c, t, o = res.construction, res.target, res.options
    lines = [("run", o.command()), ("theorem", c.theorem)]
    tgt = f"{t.description}: {len(t)} {'points' if t.whole_domain else 'data points'} of {t.in_format}"
    if t.d > 1:
        tgt += f"^{t.d}"
    if t.inexact:
        tgt += f" ({t.inexact} values rounded into {t.out_format})"
    lines.append(("target", tgt))
    formula = c.formula
    size = str(c.size)
    if formula.get("parameters") is not None and formula["parameters"] != c.size.parameters:
        size += f" [formula: {formula['parameters']} parameters]"
    lines.append(("network", size))
    for v in res.violations:
        lines.append(("BROKEN", v))
    lines.append(("golden", _golden_line(res)))
    if res.golden.examples:
        lines.append(("", "first: " + res.golden.examples[0]))
    lines += _hardware_lines(res)
    lines.append(("time", " · ".join(f"{s.name} {_secs(s.seconds)}" for s in res.stages if s.seconds is not None)
                  + f" · total {_secs(res.total_seconds)}"))
    lines.append(("result", verdict(res)))
    return lines


def _failing(res, limit):
    """The golden check's failing inputs: dicts with the input, the target and the network value."""
    t, g = res.target, res.golden
    if g is None or g.failing is None or not g.failing.size:
        return []
    idx = g.failing[:limit]
    fin, fout = t.in_format, t.out_format
    got = res.construction.network(t.points[idx])[:, 0]
    return [dict(x=[fin.show(v) for v in t.points[i]], x_value=[float(v) for v in fin.decode(t.points[i])],
                 target=fout.show(t.values[i]), network=fout.show(g_), target_value=float(fout.decode(t.values[i])),
                 network_value=float(fout.decode(g_)))
            for i, g_ in zip(idx, got)]


def to_json(res) -> dict:
    """Every number of the run, JSON-ready."""
    c, t, o = res.construction, res.target, res.options
    d = dict(
        command=o.command(), options={k: getattr(o, k) for k in o.__dataclass_fields__},
        verdict=verdict(res), ok=res.ok, theorem=c.theorem, assumptions=list(c.assumptions),
        violations=list(c.violations), negative_control=res.negative_control,
        target=dict(spec=o.target, description=t.description, points=len(t), dims=t.d,
                    whole_domain=t.whole_domain, inexact=t.inexact, format=str(t.in_format)),
        network=dict(size=c.size.to_json(), formula={k: v for k, v in c.formula.items()},
                     widths=[layer.n_out for layer in c.network.layers],
                     layer_names=[layer.name for layer in c.network.layers]),
        golden=dict(checked=res.golden.checked, mismatches=res.golden.mismatches,
                    examples=list(res.golden.examples), failing=_failing(res, 10 * FAILING_SHOWN)),
        intervals=None if res.intervals is None else dict(checked=res.intervals.checked,
                                                          mismatches=res.intervals.mismatches,
                                                          examples=list(res.intervals.examples)),
        hardware=dict(res.hardware), stages=[s.to_json() for s in res.stages],
        total_seconds=res.total_seconds)
    if res.hw_inputs is not None:
        d["hardware"].update(checked=int(res.hw_inputs.shape[0]), mismatches=res.rtl_mismatch_count,
                             divergence=res.divergence)
    if res.synthesis is not None:
        s = res.synthesis
        d["synthesis"] = dict(target=s.target, effort=s.effort, luts=s.luts, ffs=s.ffs, dsps=s.dsps, brams=s.brams,
                              carries=s.carries, fmax_mhz=s.fmax, fits=s.fits, error=s.error,
                              utilisation={k: list(v) for k, v in s.utilisation.items()},
                              elapsed_s=s.elapsed_s, cached=s.cached)
    return d


# ---------------------------------------------------------------------------- plots
def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def _linthresh(fmt):
    """Where a symmetric-log axis over ``fmt`` turns linear: its smallest normal (floats) or its
    step (fixed point)."""
    return float(fmt.min_normal) if fmt.kind == "float" else float(fmt.min_subnormal)


def _axis_values(fmt, codes):
    v = fmt.decode(codes).astype(float)
    return v


def plots(res) -> dict:
    """``{name: (title, png bytes)}``: ``function``, ``failures`` (when the golden check failed),
    ``stages`` and ``size``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    t = res.target
    fin, fout = t.in_format, t.out_format
    one_d = t.d == 1
    # target vs network over the domain
    fig, ax = plt.subplots(figsize=(9, 4.2))
    if one_d:
        px = _axis_values(fin, res.plot_x[:, 0])
        tx = _axis_values(fin, t.points[:, 0])
        ax.set_xscale("symlog", linthresh=_linthresh(fin))
        ax.set_xlabel(f"input x ({fin}, symmetric-log axis)")
    else:
        px = np.arange(res.plot_x.shape[0])
        keyed = {tuple(int(v) for v in p): i for i, p in enumerate(res.plot_x)}
        tx = np.array([keyed.get(tuple(int(v) for v in p), -1) for p in t.points], dtype=float)
        ax.set_xlabel(f"input index (points of {fin}^{t.d} in lexicographic order)")
    ax.set_yscale("symlog", linthresh=_linthresh(fout))
    order = np.argsort(px, kind="stable")
    ax.plot(px[order], _axis_values(fout, res.plot_out[order, 0]), "-", color="#1f77b4", lw=0.8, drawstyle="steps-post",
            label="network (golden)", zorder=2)
    ax.plot(tx, _axis_values(fout, t.values), "o", mfc="none", color="#2ca02c", ms=5,
            label="target" if t.whole_domain else "data set", zorder=3)
    if res.rtl_out is not None:
        hx = _axis_values(fin, res.hw_inputs[:, 0]) if one_d else np.arange(res.hw_inputs.shape[0])
        ax.plot(hx, _axis_values(fout, res.rtl_out[:, 0]), ".", color="#ff7f0e", ms=3,
                label="RTL (Verilator)", zorder=4)
    if res.golden.mismatches:
        f = res.golden.failing
        ax.plot(tx[f], _axis_values(fout, res.construction.network(t.points[f])[:, 0]), "x", color="#d62728",
                ms=7, mew=1.5, label=f"network ≠ target ({res.golden.mismatches})", zorder=5)
    ax.set_ylabel(f"output ({fout}, symmetric-log axis)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    out["function"] = ("Target and network output over the domain", _png(fig))
    # failing inputs of a negative control (or of a broken construction)
    if res.golden.mismatches:
        f = res.golden.failing
        fig, ax = plt.subplots(figsize=(9, 3.2))
        got = _axis_values(fout, res.construction.network(t.points[f])[:, 0])
        want = _axis_values(fout, t.values[f])
        xs = tx[f]
        ax.vlines(xs, np.minimum(got, want), np.maximum(got, want), color="#d62728", lw=1)
        ax.plot(xs, want, "o", mfc="none", color="#2ca02c", ms=5, label="target")
        ax.plot(xs, got, "x", color="#d62728", ms=6, label="network")
        if one_d:
            ax.set_xscale("symlog", linthresh=_linthresh(fin))
        ax.set_yscale("symlog", linthresh=_linthresh(fout))
        broken = res.violations[0].split(" — ")[0] if res.violations else "no assumption broken"
        more = f" (+{len(res.violations) - 1} more)" if len(res.violations) > 1 else ""
        ax.set_title(textwrap.fill(f"{res.golden.mismatches} failing inputs — broken: {broken}{more}", 110),
                     fontsize=9)
        ax.set_xlabel("input" if one_d else "input index")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        out["failures"] = ("Inputs where the network differs from the target", _png(fig))
    # time per stage
    fig, ax = plt.subplots(figsize=(6, 2.6))
    names = [s.name for s in res.stages]
    secs = [s.seconds or 0.0 for s in res.stages]
    colors = {"ok": "#2ca02c", "failed": "#d62728", "skipped": "#bbbbbb", "not run": "#bbbbbb"}
    ax.barh(names[::-1], secs[::-1], color=[colors.get(s.status, "#888") for s in res.stages][::-1])
    for i, (s, v) in enumerate(zip(res.stages[::-1], secs[::-1])):
        ax.text(v, i, f" {_secs(s.seconds) if s.seconds is not None else s.status}", va="center", fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_xlim(0, max(secs + [1e-3]) * 1.35)
    out["stages"] = ("Time per stage", _png(fig))
    # network and hardware size
    syn = res.synthesis
    fig, axes = plt.subplots(1, 2 if syn is not None else 1, figsize=(9 if syn is not None else 6, 3),
                             squeeze=False)
    ax = axes[0, 0]
    layers = res.construction.network.layers
    ax.bar(range(len(layers)), [layer.n_out for layer in layers], color="#1f77b4")
    ax.set_xticks(range(len(layers)), [layer.name or str(i) for i, layer in enumerate(layers)], rotation=60,
                  fontsize=7, ha="right")
    ax.set_ylabel("neurons")
    ax.set_title(f"network: {res.construction.size.layers} layers, {res.construction.size.neurons} neurons, "
                 f"{res.construction.size.nonzero_weights} non-zero weights", fontsize=9)
    if syn is not None:
        ax = axes[0, 1]
        kinds = ["LUTs", "FFs", "carries", "DSPs", "BRAMs"]
        vals = [syn.luts, syn.ffs, syn.carries, syn.dsps, syn.brams]
        ax.bar(kinds, vals, color="#9467bd")
        for i, v in enumerate(vals):
            ax.text(i, v, str(v), ha="center", va="bottom", fontsize=8)
        fm = f", Fmax {syn.fmax:.1f} MHz" if syn.fmax is not None else ""
        ax.set_title(f"hardware on {syn.target}{fm}", fontsize=9)
    out["size"] = ("Network and hardware size", _png(fig))
    return out


# ---------------------------------------------------------------------------- pages
def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|")


def _stage_rows(res):
    return [(s.name, s.status, _secs(s.seconds), s.detail) for s in res.stages]


def to_markdown(res, images: dict | None = None) -> str:
    """The report as Markdown; ``images`` maps a plot name to the file it was written to."""
    lines = [f"# ulpflow run: {res.options.construction} on {res.target.in_format}", "",
             f"**{verdict(res)}**", "", "```", res.options.command(), "```", ""]
    lines += ["| | |", "|---|---|"]
    for label, text in summary_lines(res):
        if label in ("run", "result"):
            continue
        lines.append(f"| {_md_escape(label)} | {_md_escape(text)} |")
    lines += ["", "## Assumptions", ""]
    lines += [f"- {a}" for a in res.construction.assumptions]
    if res.violations:
        lines += ["", "## Broken assumptions (negative control)", ""]
        lines += [f"- {v}" for v in res.violations]
    fails = _failing(res, FAILING_SHOWN)
    if fails:
        lines += ["", f"## Failing inputs ({res.golden.mismatches}; the first {len(fails)})", "",
                  "| x | target | network |", "|---|---|---|"]
        lines += [f"| {', '.join(f['x'])} | {f['target']} | {f['network']} |" for f in fails]
    if res.intervals is not None and res.intervals.examples:
        lines += ["", "## Failing boxes (interval semantics)", ""] + [f"- {e}" for e in res.intervals.examples]
    lines += ["", "## Stages", "", "| stage | status | time | detail |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {_md_escape(d)} |" for a, b, c, d in _stage_rows(res)]
    if images:
        lines += ["", "## Plots", ""]
        for name, path in images.items():
            lines += [f"![{name}]({path})", ""]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1000px;
color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
vertical-align:top;text-align:left;font-size:.92em}th{background:#f4f4f4}
.verdict{display:inline-block;padding:.3em .8em;border-radius:4px;font-weight:bold;color:#fff}
.pass{background:#2a7d2a}.fail{background:#b22}.control{background:#b5651d}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}figure{margin:1em 0}
figcaption{font-size:.9em;color:#555}img{max-width:100%}.broken{color:#b22}
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, n = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) n++; }
  document.body.setAttribute('data-images-rendered', n + '/' + imgs.length);
  var el = document.getElementById('render-status');
  if (el) el.textContent = n + ' of ' + imgs.length + ' plots rendered';
});
"""


def to_html(res, pngs: dict | None = None) -> str:
    """The report as one self-contained HTML page; ``pngs`` is :func:`plots`' result (computed
    when None). A script counts the plots the browser decoded into ``data-images-rendered``."""
    if pngs is None:
        pngs = plots(res)
    e = html.escape
    v = verdict(res)
    cls = "control" if res.negative_control else ("pass" if res.ok else "fail")
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         f"<title>ulpflow run: {e(res.options.construction)} on {e(str(res.target.in_format))}</title>",
         f"<style>{_CSS}</style><script>{_SCRIPT}</script></head><body>",
         f"<h1>ulpflow run: {e(res.options.construction)} on {e(str(res.target.in_format))}</h1>",
         f'<p><span class="verdict {cls}">{e(v)}</span> <span id="render-status"></span></p>',
         f"<pre>{e(res.options.command())}</pre>", "<table>"]
    for label, text in summary_lines(res):
        if label in ("run", "result"):
            continue
        style = ' class="broken"' if label == "BROKEN" else ""
        h.append(f"<tr{style}><th>{e(label)}</th><td>{e(text)}</td></tr>")
    h.append("</table>")
    if res.violations:
        h.append("<h2>Broken assumptions (negative control)</h2><ul>")
        h += [f'<li class="broken">{e(x)}</li>' for x in res.violations]
        h.append("</ul>")
    h.append("<h2>Plots</h2>")
    for name, (title, data) in pngs.items():
        b64 = base64.b64encode(data).decode("ascii")
        h.append(f'<figure id="plot-{e(name)}"><img alt="{e(title)}" src="data:image/png;base64,{b64}">'
                 f"<figcaption>{e(title)}</figcaption></figure>")
    fails = _failing(res, FAILING_SHOWN)
    if fails:
        h.append(f"<h2>Failing inputs ({res.golden.mismatches}; the first {len(fails)})</h2>")
        h.append("<table><tr><th>x</th><th>target</th><th>network</th></tr>")
        h += [f"<tr><td>{e(', '.join(f['x']))}</td><td>{e(f['target'])}</td><td>{e(f['network'])}</td></tr>"
              for f in fails]
        h.append("</table>")
    if res.divergence:
        h.append(f"<h2>First divergence (RTL against golden)</h2><pre>{e(res.divergence)}</pre>")
    h.append("<h2>Assumptions</h2><ul>")
    h += [f"<li>{e(a)}</li>" for a in res.construction.assumptions]
    h.append("</ul><h2>Stages</h2><table><tr><th>stage</th><th>status</th><th>time</th><th>detail</th></tr>")
    h += [f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td><td>{e(d)}</td></tr>" for a, b, c, d in _stage_rows(res)]
    h.append("</table></body></html>")
    return "\n".join(h) + "\n"


def write(res, out_dir) -> dict:
    """Write ``report.json``, ``report.md`` (+ ``plot-*.png``) and ``report.html`` into
    ``out_dir`` (created); returns ``{kind: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pngs = plots(res)
    images = {}
    for name, (_title, data) in pngs.items():
        p = out / f"plot-{name}.png"
        p.write_bytes(data)
        images[name] = p.name
    paths = dict(json=out / "report.json", markdown=out / "report.md", html=out / "report.html")
    paths["json"].write_text(json.dumps(to_json(res), indent=1, default=str) + "\n")
    paths["markdown"].write_text(to_markdown(res, images))
    paths["html"].write_text(to_html(res, pngs))
    return paths
