"""lmc.core.paths names every result file: each file under results/ is one its functions return."""

from pathlib import Path

from lmc.core import paths, results
from lmc.paper import reported
from lmc.studies import questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ("bn", "stability", "noise", "optimizer")  # chapter b4's


def _named(file: Path) -> bool:
    """Whether ``file`` (relative to the results folder) is a name lmc.core.paths gives."""
    parts = file.parts
    if parts[0] == paths.STANDIN_SEARCH:
        return paths.standin_shard(".", file.stem) == Path(".") / file
    preset, chapter = parts[0], parts[1].removesuffix(".nc")
    if len(parts) == 2:
        return paths.chapter_file(".", preset, chapter) == Path(".") / file
    networks = [(m, v) for m, v in reported.SETTINGS]
    if len(parts) == 3:
        return any(paths.network_file(".", preset, chapter, m, v) == Path(".") / file for m, v in networks) or any(
            paths.question_file(".", preset, chapter, q, m) == Path(".") / file
            for q in QUESTIONS for m, _ in networks)
    return any(paths.shard_folder(".", preset, chapter, m, v) / parts[3] == Path(".") / file for m, v in networks)


def test_every_archived_result_has_a_name_that_lmc_core_paths_gives():
    files = [f.relative_to(ROOT / "results") for f in (ROOT / "results").rglob("*.nc")
             if not results.is_kept(f)]
    assert files, "results/ holds no archived result"
    assert [f for f in files if not _named(f)] == []


def test_a_question_of_chapter_b4_is_named_by_question_and_network():
    assert paths.question_file("r", "quick", "b4_our_questions", "bn", "x") == \
        Path("r/quick/b4_our_questions/bn_x.nc")
    assert not _named(Path("quick/b4_our_questions/bn_x_y_z.nc"))  # a name no function gives


def test_question_4_steps_come_from_the_study_and_a_caller_cannot_change_them_by_accident():
    steps = questions.optimizer_steps("quick")
    assert steps == {reported.ROLES["lenet"]: "500", reported.ROLES["standin"]: "25"}
    steps["lenet_300_100"] = "0"
    assert questions.optimizer_steps("quick")["lenet_300_100"] == "500"
    assert questions.optimizer_steps("smoke") == {reported.ROLES["lenet"]: "100"}
