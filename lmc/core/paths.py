"""Where results live: the one module that names every result file (open_lth's
``foundations/paths.py``). The run cache names its own files (``lmc.core.store``).

::

    <results>/<preset>/<chapter>.nc                                   a chapter with one result (01, b1, b2)
    <results>/<preset>/<chapter>/<model>_<variant>.nc                 one network's result of a chapter
    <results>/<preset>/<chapter>/<model>_<variant>/<shard>.nc         the paper-protocol archive's shards
    <results>/<preset>/<chapter>/<question>_<model>.nc                one question's result of a chapter (b4)
    <results>/<preset>/timings.json                                   measured chapter execution times
    <results>/standin_search/<candidate id>.nc                        the stand-in search's shards
    <results>/<preset>/instability_<model>_<variant>_k<ks>.nc         ``lmc run instability`` (default --out)
    <results>/<preset>/sparse_<model>_<variant>_L<levels>_k<ks>.nc    ``lmc run sparse`` (default --out)

``<results>`` is ``results/`` in the checkout unless a caller gives another folder. Earlier
results that ``lmc.core.results.save`` keeps beside a newer one carry a dot in their stem
(``results.is_kept``).
"""

from __future__ import annotations

from pathlib import Path

RESULTS = Path("results")  # the default results folder (relative to the working directory)
TIMINGS = "timings.json"
STANDIN_SEARCH = "standin_search"


def preset_folder(results_dir, preset: str) -> Path:
    """``<results>/<preset>``: every result of one preset."""
    return Path(results_dir) / preset


def chapter_file(results_dir, preset: str, chapter: str) -> Path:
    """``<results>/<preset>/<chapter>.nc``: the result of a chapter that writes one file."""
    return preset_folder(results_dir, preset) / f"{chapter}.nc"


def chapter_folder(results_dir, preset: str, chapter: str) -> Path:
    """``<results>/<preset>/<chapter>``: the results of a chapter that writes one file per network."""
    return preset_folder(results_dir, preset) / chapter


def network_file(results_dir, preset: str, chapter: str, model: str, variant: str) -> Path:
    """``<results>/<preset>/<chapter>/<model>_<variant>.nc``: one network's result of a chapter."""
    return chapter_folder(results_dir, preset, chapter) / f"{model}_{variant}.nc"


def question_file(results_dir, preset: str, chapter: str, question: str, model: str) -> Path:
    """``<results>/<preset>/<chapter>/<question>_<model>.nc``: one question's result of a chapter
    that asks several (chapter b4: ``bn``, ``stability``, ``noise``, ``optimizer``)."""
    return chapter_folder(results_dir, preset, chapter) / f"{question}_{model}.nc"


def shard_folder(results_dir, preset: str, chapter: str, model: str, variant: str) -> Path:
    """``<results>/<preset>/<chapter>/<model>_<variant>``: one network's archived shards."""
    return chapter_folder(results_dir, preset, chapter) / f"{model}_{variant}"


def chapter_results(results_dir, preset: str, chapter: str) -> list[Path]:
    """Every result file a chapter has for ``preset``: ``<chapter>.nc``, ``<chapter>/*.nc`` and the
    archive's shards ``<chapter>/<model>_<variant>/*.nc`` (kept earlier results included)."""
    single = chapter_file(results_dir, preset, chapter)
    folder = chapter_folder(results_dir, preset, chapter)
    return [p for p in [single] if p.exists()] + list(folder.glob("*.nc")) + list(folder.glob("*/*.nc"))


def timings(results_dir, preset: str) -> Path:
    """``<results>/<preset>/timings.json``: measured chapter execution times (``lmc book``)."""
    return preset_folder(results_dir, preset) / TIMINGS


def standin_folder(results_dir) -> Path:
    """``<results>/standin_search``: the stand-in search's shards."""
    return Path(results_dir) / STANDIN_SEARCH


def standin_shard(results_dir, candidate_id: str) -> Path:
    """``<results>/standin_search/<candidate id>.nc``: one candidate's result."""
    return standin_folder(results_dir) / f"{candidate_id}.nc"


def cli_instability(preset: str, model: str, variant: str, rewind_steps, results_dir=RESULTS) -> Path:
    """The default ``--out`` of ``lmc run instability``."""
    ks = "_".join(str(k) for k in rewind_steps)
    return preset_folder(results_dir, preset) / f"instability_{model}_{variant}_k{ks}.nc"


def cli_sparse(preset: str, model: str, variant: str, levels, rewind_steps, results_dir=RESULTS) -> Path:
    """The default ``--out`` of ``lmc run sparse``."""
    name = f"sparse_{model}_{variant}_L{'_'.join(map(str, levels))}_k{'_'.join(str(k) for k in rewind_steps)}.nc"
    return preset_folder(results_dir, preset) / name
