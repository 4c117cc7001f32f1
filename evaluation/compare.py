"""`hiermusic eval compare A B`: one page that lines two runs up, so a swap of
one level's model shows which models changed and what that changed."""
from __future__ import annotations

import json
from pathlib import Path

from hiermusic.evaluation.pictures import comparison_picture
from hiermusic.evaluation.report import fmt, headline


class CompareError(ValueError):
    pass


def load_report(run: Path) -> dict:
    path = Path(run) / "report.json" if Path(run).is_dir() else Path(run)
    if not path.is_file():
        raise CompareError(f"{run}: no report.json (run `hiermusic eval --out {run}` first)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CompareError(f"{path}: not a report ({err})") from err


def compare(run_a: Path, run_b: Path, out: Path) -> dict:
    a, b = load_report(run_a), load_report(run_b)
    names = (Path(run_a).name or str(run_a), Path(run_b).name or str(run_b))
    rows_a = {f.label: f.value for f in headline(a)}
    rows_b = {f.label: f.value for f in headline(b)}
    rows = [(label, rows_a.get(label), rows_b.get(label)) for label in dict.fromkeys([*rows_a, *rows_b])]
    models = {
        level: {"a": a["models"].get(level, []), "b": b["models"].get(level, [])}
        for level in sorted(set(a["models"]) | set(b["models"]))
    }
    ids_b = {p["id"]: p for p in b["pieces"]}
    pieces = [(p, ids_b[p["id"]]) for p in a["pieces"] if p["id"] in ids_b]
    result = {
        "runs": names,
        "changed_levels": [level for level, m in models.items() if m["a"] != m["b"]],
        "models": models,
        "figures": [{"measure": label, "a": va, "b": vb, "change": _delta(va, vb)} for label, va, vb in rows],
        "shared_pieces": len(pieces),
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=1) + "\n")
    numeric = [(label, va, vb) for label, va, vb in rows if _number(va) is not None or _number(vb) is not None]
    comparison_picture([(label, _number(va), _number(vb)) for label, va, vb in numeric], names, out / "compare.png")
    (out / "compare.md").write_text(_markdown(result, names, pieces))
    return result


def _markdown(result: dict, names: tuple[str, str], pieces: list[tuple[dict, dict]]) -> str:
    a, b = names
    lines = [f"# {a} vs {b}", ""]
    changed = result["changed_levels"]
    lines.append(f"Levels whose model changed: {', '.join(changed) if changed else 'none'}.")
    lines += ["", "| level | " + a + " | " + b + " |", "|---|---|---|"]
    lines += [f"| {level} | {', '.join(m['a'])} | {', '.join(m['b'])} |" for level, m in result["models"].items()]
    lines += ["", f"| measure | {a} | {b} | change |", "|---|---|---|---|"]
    lines += [f"| {f['measure']} | {fmt(f['a'])} | {fmt(f['b'])} | {fmt(f['change'])} |" for f in result["figures"]]
    lines += ["", "![figures side by side](compare.png)", "",
              f"## The {len(pieces)} prompts both runs played", "",
              f"| id | tempo found {a} / {b} | mode found {a} / {b} | repeat gap {a} / {b} |", "|---|---|---|---|"]
    for pa, pb in pieces:
        ma, mb = pa["measures"], pb["measures"]
        lines.append(f"| {pa['id']} | {fmt(ma['tempo']['bpm'])} / {fmt(mb['tempo']['bpm'])} | "
                     f"{fmt(ma['key']['mode'])} / {fmt(mb['key']['mode'])} | "
                     f"{fmt(ma['structure']['sections']['gap'])} / {fmt(mb['structure']['sections']['gap'])} |")
    return "\n".join(lines) + "\n"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _delta(a: object, b: object) -> float | None:
    na, nb = _number(a), _number(b)
    return None if na is None or nb is None else round(nb - na, 4)
