"""What is reproduced: every figure and table of the paper, the chapter that redraws it,
whether ``quick`` and ``paper`` results exist, and the paper's value beside ours.

The introduction of the book shows :func:`status_markdown`, written by ``lmc book``
before every build, so the table always says what ``results/`` holds.

A chapter claims the items named on the "*Paper: ...*" line of its first markdown cell
(e.g. ``*Paper: Section 3, Figure 3 and Appendix F.*``); :func:`claims` reads it. Its
results are found under ``results/<preset>/<chapter>.nc`` or ``results/<preset>/<chapter>/``.
Where the paper reports a number, :data:`VALUES` says how to read the paper's and ours.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..core import paths
from ..experiments import chapters
from ..paper import reported


@dataclass(frozen=True)
class Item:
    """One figure or table of the paper (an appendix counts as one item for its figures)."""

    name: str                  # "Figure 2", "Table 2", "Appendix C"
    section: str               # where it is in the paper
    shows: str                 # what it shows, in a few words
    figures: tuple[int, ...]   # the paper's figure numbers it consists of
    table: int | None = None   # the paper's table number, for a table


# Every figure and table of the paper with results (Figure 1 is the diagram of the
# method and Table 1 the hyperparameters: lmc.paper.reported.TABLE1, not results).
ITEMS: tuple[Item, ...] = (
    Item("Figure 2", "§3", "error along the path between copies trained from initialization", (2,)),
    Item("Figure 3", "§3", "instability against the rewind step k", (3,)),
    Item("Figure 4", "§3", "instability with the learning-rate schedule reset", (4,)),
    Item("Table 2", "§4.2", "accuracy of IMP, random pruning and random reinitialization", (), table=2),
    Item("Figure 5", "§4.2", "error along the path for sparse subnetworks at k = 0", (5,)),
    Item("Figure 6", "§4.3", "instability of sparse subnetworks against the rewind step", (6,)),
    Item("Figure 7", "§4.3", "accuracy of IMP subnetworks against the rewind step", (7,)),
    Item("Figure 8", "§4.4", "when subnetworks become stable and matching, across sparsities", (8,)),
    Item("Appendix B", "App. B", "selecting the most extreme matching sparsity", (9,)),
    Item("Appendix C", "App. C", "error and distances of the network at the rewind step", (10, 11, 12)),
    Item("Appendix D", "App. D", "instability throughout training", (13, 14)),
    Item("Appendix E", "App. E", "instability and error at all sparsities", (15, 16, 17)),
    Item("Appendix F", "App. F", "the interpolation curves behind Figures 3 and 6", (18, 19, 20, 21)),
    Item("Appendix G", "App. G", "train instability of sparse subnetworks", (22, 23)),
    Item("Appendix H", "App. H", "other distances between the trained copies", tuple(range(24, 31))),
)

_FIGURES = re.compile(r"Fig(?:ure|s?\.|ures)?\s*(\d+)(?:\s*(?:–|-|to)\s*(\d+))?((?:\s*(?:,|and)\s*\d+)*)")
_TABLES = re.compile(r"Tables?\s*(\d+)((?:\s*(?:,|and)\s*\d+)*)")
_APPENDICES = re.compile(r"App(?:endix|endices|s?\.)\s*([A-H](?:\s*(?:,|–|-|and)\s*[A-H])*)\b")


def paper_line(notebook: Path) -> str:
    """The "*Paper: ...*" line of a chapter's first markdown cell ("" when there is none)."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    first = next((c for c in cells if c["cell_type"] == "markdown"), None)
    text = "".join(first["source"]) if first else ""
    found = re.search(r"^\*?Paper:\s*(.+?)\*?\s*$", text, flags=re.MULTILINE)
    return found.group(1).rstrip(".* ") if found else ""


def claims(line: str) -> list[str]:
    """The items (``Item.name``) a chapter's paper line names: figures, tables, appendices.

    >>> claims("Section 3, Figure 3 and Appendix F")
    ['Figure 3', 'Appendix F']
    """
    figures, tables, letters = set(), set(), set()
    for first, last, more in _FIGURES.findall(line):
        figures.update(range(int(first), int(last or first) + 1))
        figures.update(int(n) for n in re.findall(r"\d+", more))
    for first, more in _TABLES.findall(line):
        tables.update([int(first)] + [int(n) for n in re.findall(r"\d+", more)])
    for group in _APPENDICES.findall(line):
        ends = re.findall(r"[A-H]", group)
        if re.search(r"–|-", group) and len(ends) == 2:
            ends = [chr(c) for c in range(ord(ends[0]), ord(ends[1]) + 1)]
        letters.update(ends)
    return [item.name for item in ITEMS
            if figures & set(item.figures) or item.table in tables
            or (item.name.startswith("Appendix") and item.name[-1] in letters)]


def result_files(results_dir: Path, preset: str, chapter: str) -> list[Path]:
    """The netCDF results a chapter wrote for ``preset``: ``<chapter>.nc`` or ``<chapter>/*.nc``,
    and the shards of the paper-protocol archive, ``<chapter>/<model>_<variant>/*.nc``
    (``lmc.experiments.archive``; not the results of earlier configurations that ``results.save`` kept as
    ``<name>.<hash>.nc``)."""
    from ..core.results import is_kept

    return sorted(p for p in paths.chapter_results(results_dir, preset, chapter) if not is_kept(p))


# ---- the paper's value and ours, like with like: the paper's LeNet-300-100 beside our LeNet-300-100
# (the one Table 1 network that every preset computes), and the CPU stand-in in rows of its own,
# labelled, with no paper value. Each reader gets one network's result file and returns text.

LENET = "lenet_300_100"
STAND_IN = reported.STAND_IN


def _network_file(files: list[Path], model: str) -> Path | None:
    """The result of network ``model`` among a chapter's files: ``<model>_<variant>.nc``, the
    folder of its archived shards (``<model>_<variant>/``, read by ``_read``), or a
    chapter's single result file (chapter 01's) whose configuration names that network."""
    from ..core import results

    named = [f for f in files if f.stem.startswith(model)]
    if named:
        return named[0]
    sharded = [f.parent for f in files if f.parent.name.startswith(model)]
    if sharded:
        return sharded[0]
    for f in files:
        if f.parent.name != f.stem.split(".")[0]:  # results/<preset>/<chapter>.nc
            try:
                if results.config_of(results.attributes(f)).get("model") == model:
                    return f
            except (KeyError, OSError, ValueError):
                continue
    return None


def _read(path: Path):
    """A result file, or the archived shards in a folder combined (``lmc.experiments.archive.load_folder``)."""
    from ..core import results
    from ..experiments import archive

    return archive.load_folder(path) if Path(path).is_dir() else results.load(path)


def _note(ds) -> str:
    """The schedule a result trained with; for archived shards also how many initializations,
    pairs and α they hold (``lmc.experiments.archive.protocol``), since the archive may be partly computed."""
    from ..core import results
    from ..experiments import archive

    return archive.protocol(ds) if "shards" in ds.attrs else reported.schedule_note(results.config_of(ds))


def _figure2(ds):
    test = ds.instability.sel(split="test")
    from ..core import results

    return f"{results.mean_std(test)} pp"


def _figure3(ds):
    from ..experiments import tables

    k = tables.stable_from(ds)
    return f"stable from k = {k}" if k is not None else "never stable on our grid"


def _figure4(ds):
    from ..core import results
    from ..experiments import tables

    table = tables.schedule_table({(results.config_of(ds)["model"], "standard"): ds})
    return f"largest difference {table['largest |difference| (pp)'].max():.2f} pp"


def _table2(ds):
    from ..experiments import tables

    ours = tables.table2(ds).loc["ours"]
    return f"IMP {ours['imp (%)']}% at {ours['density (%)']:.1f}% density"


def _figure5(ds):
    from ..experiments import tables

    ours = tables.table2(ds).loc["ours"]
    return f"IMP test instability {ours['instability imp (pp)']:.2f} pp"


_LENET = reported.setting(LENET)


def _k(setting: reported.Setting) -> str:
    """The step from which the paper finds a setting stable, as written (iterations bare)."""
    return setting.stable_from.removesuffix("it")


# item name -> (the paper's LeNet-300-100 value as text, reader of our value from one network's result)
VALUES = {
    "Figure 2": (f"< {_LENET.instability_at_init:g} pp (test instability at k = 0)", _figure2),
    "Figure 3": (f"stable from k = {_k(_LENET)} (ResNet-20 k = {_k(reported.setting('cifar_resnet_20'))}; "
                 f"VGG-16 k = {_k(reported.setting('cifar_vgg_16'))})", _figure3),
    "Figure 4": ("indistinguishable (no number)", _figure4),
    "Table 2": (f"IMP {reported.TABLE2[(LENET, 'standard')].imp:g}% at {_LENET.pruning_density:g}% density", _table2),
    "Figure 5": ("IMP: stable (< 2 pp)", _figure5),
}


def _archived_share(folder: Path) -> str:
    """For a partly computed archive folder ``<results>/<preset>/<chapter>/<model>_<variant>/``:
    "; 1 of 24 shards so far" (a value read off a few shards is not the chapter's); "" when complete."""
    from ..experiments import archive

    preset, chapter = folder.parent.parent.name, folder.parent.name
    model, _, variant = folder.name.rpartition("_")
    planned = archive.plan(chapter, model, preset, variant, folder.parent.parent.parent)
    done = sum(archive.readable(s) for s in planned)
    return "" if done == len(planned) else f"; {done} of {len(planned)} shards so far"


def _ours(item: Item, found: dict, model: str) -> str:
    """Our value for network ``model`` from the ``paper`` results if there are any, else ``quick``'s,
    with the preset and the schedule it trained with."""
    if item.name not in VALUES:
        return ""
    for preset in ("paper", "quick"):
        path = _network_file(found.get(preset, []), model)
        if path is None:
            continue
        try:
            ds = _read(path)
            note = _note(ds) + (_archived_share(Path(path)) if Path(path).is_dir() else "")
            return f"{VALUES[item.name][1](ds)} (`{preset}`{': ' + note if note else ''})"
        except Exception as e:  # a chapter changed its result format: say so, do not hide it
            return f"cannot read {path.name}: {type(e).__name__}: {e}"
    return ""


def status(results_dir: Path, chapter_paths: list[Path]) -> list[dict]:
    """One row per item of :data:`ITEMS` (the paper's LeNet-300-100 beside ours), and for items
    with a number a row of the CPU stand-in's own (``stand_in`` True, no paper value): the chapters
    that claim it, whether ``quick`` and ``paper`` results exist, the paper's value and ours."""
    owners = {item.name: [] for item in ITEMS}
    for path in chapter_paths:
        for name in claims(paper_line(path)):
            owners[name].append(path.stem)
    rows = []
    for item in ITEMS:
        found = {preset: [f for ch in owners[item.name] for f in result_files(results_dir, preset, ch)]
                 for preset in ("quick", "paper")}
        rows.append({"item": item, "chapters": owners[item.name], "stand_in": False,
                     "quick": bool(found["quick"]), "paper": bool(found["paper"]),
                     "paper value": f"LeNet-300-100: {VALUES[item.name][0]}" if item.name in VALUES else "",
                     "ours": (f"LeNet-300-100: {_ours(item, found, LENET)}"
                              if item.name in VALUES and _ours(item, found, LENET) else "")})
        stand_in = _ours(item, found, STAND_IN) if item.name in VALUES else ""
        if stand_in:
            rows.append({"item": item, "chapters": owners[item.name], "stand_in": True,
                         "quick": bool(found["quick"]), "paper": bool(found["paper"]),
                         "paper value": "none (not in the paper)", "ours": f"stand-in: {stand_in}"})
    return rows


def status_markdown(results_dir: Path, chapter_paths: list[Path], linked: set[str] = frozenset()) -> str:
    """The status table as MyST markdown; chapters in ``linked`` (document names such as
    ``book/chapters/01_instability_at_init``) become links."""
    def chapter_cell(stems):
        if not stems:
            return "not written yet"
        return ", ".join(f"{{doc}}`{s[:2]} </book/chapters/{s}>`" if f"book/chapters/{s}" in linked
                         else s for s in stems)

    mark = {True: "yes", False: "—"}
    lines = ["| paper | what it shows | chapter | `quick` | `paper` | paper's value | ours |",
             "|---|---|---|:-:|:-:|---|---|"]
    for row in status(results_dir, chapter_paths):
        item = row["item"]
        if row["stand_in"]:
            lines.append(f"| ↳ {item.name}, CPU stand-in | the same, on {reported.setting(STAND_IN).network}, "
                         f"a network the paper does not have | {chapter_cell(row['chapters'])} | "
                         f"{mark[row['quick']]} | {mark[row['paper']]} | {row['paper value']} | "
                         f"{row['ours'].replace('|', '/')} |")
            continue
        lines.append(f"| {item.name} ({item.section}) | {item.shows} | {chapter_cell(row['chapters'])} | "
                     f"{mark[row['quick']]} | {mark[row['paper']]} | {row['paper value']} | "
                     f"{row['ours'].replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def chapter_outline(notebook: Path) -> dict:
    """What a chapter declares and calls: its parameters (the ``parameters`` cell), and the
    ``lmc`` functions its code cells call, figures (``lmc.report.plots``) apart from the rest."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    code = [("".join(c["source"]), c.get("metadata", {}).get("tags", [])) for c in cells
            if c["cell_type"] == "code"]
    parameters = [re.match(r"\s*(\w+)\s*=", line).group(1) for source, tags in code if "parameters" in tags
                  for line in source.splitlines() if re.match(r"\s*\w+\s*=", line)]
    called = list(dict.fromkeys(re.findall(r"\b(lmc(?:\.\w+){2,})\s*\(", "\n".join(s for s, _ in code))))
    if Path(notebook).stem in chapters.CHAPTERS:  # what its plan / compute / summary entry calls
        called += [f for f in chapters.functions(Path(notebook).stem) if f not in called]
    return {"parameters": parameters, "figures": [c for c in called if c.startswith("lmc.report.plots.")],
            "computes": [c for c in called if not c.startswith("lmc.report.plots.")]}


def outline_markdown(chapter_paths: list[Path]) -> str:
    """For every chapter: the paper items it redraws, its parameters, the functions it calls."""
    def names(calls):
        return ", ".join(f"`{c}`" for c in calls) or "none"

    blocks = []
    for path in chapter_paths:
        outline = chapter_outline(path)
        blocks.append(f"**`chapters/{path.name}`** ({', '.join(claims(paper_line(path))) or 'beyond the paper'})\n\n"
                      f"- parameters: {names(outline['parameters'])}\n"
                      f"- computes with: {names(outline['computes'])}\n"
                      f"- draws with: {names(outline['figures'])}\n")
    return "\n".join(blocks)


# ---- the paper's findings, each with a verdict generated from the results ---------------------

@dataclass(frozen=True)
class Claim:
    """One finding of the paper that the book tests: its words, where it is, and the chapter whose
    results decide it (``judge`` reads them; None: no result of ours can)."""

    text: str
    where: str
    chapter: str
    judge: object = None  # (model, function of its result), a function of the results folder, or None


def _load(results_dir: Path, chapter: str, model: str):
    for preset in ("paper", "quick"):
        path = _network_file(result_files(results_dir, preset, chapter), model)
        if path is not None:
            return _read(path), preset
    return None, None


def _stand_in_curve(ds) -> tuple[str, str]:
    from ..core import results
    from ..experiments import tables

    config = results.config_of(ds)
    at_zero = ds.instability.sel(split="test", rewind_step=ds.rewind_step.min())
    k = tables.stable_from(ds)
    unstable = float(at_zero.mean()) >= 2.0
    stable_early = k is not None and k <= 0.1 * config["training_iterations"]
    word = "supported" if unstable and stable_early else "contradicted"
    where = "never in the grid" if k is None else f"k = {k} ({100 * k / config['training_iterations']:.0f}% of training)"
    return word, (f"test instability {results.mean_std(at_zero)} pp at k = 0; stable (< 2 pp) from {where}")


def _lenet_at_init(ds) -> tuple[str, str]:
    from ..core import results

    test = ds.instability.sel(split="test")
    bound = reported.setting(LENET).instability_at_init
    word = "supported" if float(test.mean()) < bound else "contradicted"
    return word, f"test instability {results.mean_std(test)} pp at k = 0 (the paper: < {bound:g} pp)"


def _table2(ds) -> tuple[str, str]:
    from ..experiments import tables

    verdict = tables.table2_verdict(ds)
    word, _, evidence = verdict.partition(": ")
    return word, evidence


def _rewinding(ds) -> tuple[str, str]:
    """Figures 6-7 on the stand-in: IMP not matching and unstable at k = 0, matching and stable from
    some k ≤ 10% of training; the random baselines matching at no k."""
    from ..core import results
    from ..experiments import tables

    config = results.config_of(ds)
    table = tables.rewind_table(ds)
    imp = table[table.subnetwork == "imp"].set_index("k")
    first = int(ds.rewind_step.min())
    fails_at_zero = not imp.loc[first, "matching"] and not imp.loc[first, "stable"]
    rescued = [int(k) for k, r in imp.iterrows() if r["matching"] and r["stable"]
               and k <= 0.1 * config["training_iterations"]]
    baselines = table[table.subnetwork.str.startswith("random")]
    word = "supported" if fails_at_zero and rescued and not baselines["matching"].any() else "contradicted"
    return word, (f"IMP at k = {first}: {imp.loc[first, 'test accuracy (%)']}% "
                  f"({'matching' if imp.loc[first, 'matching'] else 'not matching'}), instability "
                  f"{imp.loc[first, 'test instability (pp)']} pp; matching and stable from "
                  f"{'k = ' + str(rescued[0]) if rescued else 'no k ≤ 10% of training in the grid'}; "
                  f"random baselines matching at {'some' if baselines['matching'].any() else 'no'} k")


def _search(results_dir: Path) -> tuple[str, str]:
    """The stand-in search's finding so far (``lmc.studies.standin_search.finding``)."""
    from ..studies import standin_search

    return standin_search.finding(results_dir)


NOT_HERE = "the CIFAR-10 and ImageNet networks need a GPU; no `paper` result of them is archived"

CLAIMS = (
    Claim("LeNet-300-100 is stable at initialization (error rises by less than a point).", "§3, Figure 2",
          "01_instability_at_init", (LENET, _lenet_at_init)),
    Claim("The larger networks are unstable at initialization and become stable early in training "
          "(ResNet-20 from k = 2,000 of 63,000).", "§3, Figure 3", "02_instability_during_training"),
    Claim("↳ the same pattern on the CPU stand-in (not a network of the paper)", "chapter 02",
          "02_instability_during_training", (STAND_IN, _stand_in_curve)),
    Claim("LeNet-300-100's IMP subnetwork at 3.5% is matching and stable at k = 0; random pruning and "
          "random reinitialization are not matching.", "§4.2, Table 2, Figure 5",
          "04_lottery_tickets_at_init", (LENET, _table2)),
    Claim("In the larger networks IMP at k = 0 is neither matching nor stable; rewound to a step early in "
          "training it becomes stable and matching; random pruning and reinitialization never are.",
          "§4.2-4.3, Table 2, Figures 5-7", "05_rewinding"),
    Claim("↳ at k = 0 on the CPU stand-in (not a network of the paper)", "chapter 04",
          "04_lottery_tickets_at_init", (STAND_IN, _table2)),
    Claim("↳ with rewinding on the CPU stand-in (not a network of the paper)", "chapter 05",
          "05_rewinding", (STAND_IN, _rewinding)),
    Claim("↳ the whole pattern, with the `low` or `warmup` recipe working at k = 0, on a CPU network "
          "searched for it (not a network of the paper; archived)", "appendix: choosing the CPU stand-in",
          "a_s_choosing_the_stand_in", _search),
)


def claim_rows(results_dir: Path) -> list[dict]:
    """Each :data:`CLAIMS` entry with its verdict ("supported", "contradicted", "partly supported",
    "not testable here" or "not computed yet") and the numbers behind it, from ``results_dir``."""
    rows = []
    for claim in CLAIMS:
        if claim.judge is None:
            rows.append({"claim": claim, "verdict": "not testable here", "evidence": NOT_HERE, "preset": ""})
            continue
        if callable(claim.judge):  # a finding read from results_dir as a whole
            verdict, evidence = claim.judge(Path(results_dir))
            rows.append({"claim": claim, "verdict": verdict, "preset": "search", "evidence": evidence})
            continue
        model, judge = claim.judge
        ds, preset = _load(Path(results_dir), claim.chapter, model)
        if ds is None:
            rows.append({"claim": claim, "verdict": "not computed yet", "preset": "",
                         "evidence": f"no result of chapter {claim.chapter[:2]} for {model}"})
            continue
        try:
            verdict, evidence = judge(ds)
        except Exception as e:  # a result in an older format: say so rather than guess
            verdict, evidence = "cannot read", f"{type(e).__name__}: {e}"
        note = _note(ds)
        rows.append({"claim": claim, "verdict": verdict, "preset": preset,
                     "evidence": f"{evidence} (`{preset}`{': ' + note if note else ''})"})
    return rows


def claims_markdown(results_dir: Path) -> str:
    """The paper's findings with their verdicts as a MyST table (the introduction includes it)."""
    lines = ["| the paper's finding | where | verdict | our numbers |", "|---|---|---|---|"]
    for row in claim_rows(results_dir):
        claim = row["claim"]
        lines.append(f"| {claim.text} | {claim.where} | **{row['verdict']}** | "
                     f"{row['evidence'].replace('|', '/')} |")
    return "\n".join(lines) + "\n"
