"""Which processes ``bytedash up`` starts, on machines other than this one (the `cores` a
machine has decides how ``--split-projector`` spreads the read models)."""

from __future__ import annotations

from interfaces.up import children

READ_MODELS = ["contacts", "definitions", "execution_stats", "executions", "tasks"]


def _projectors(cores: int) -> dict[str, list[str]]:
    specs = children(1, 1, split_projector=True, cores=cores)
    return {
        spec.name: spec.argv[spec.argv.index("--only") + 1].split(",")
        for spec in specs
        if spec.name.startswith("projector")
    }


def test_two_cores_get_two_read_model_processes_and_the_followers_one() -> None:
    projectors = _projectors(2)
    assert projectors.pop("projector") == ["triggers", "admin_requests", "chain"]
    assert len(projectors) == 2
    assert sorted(n for names in projectors.values() for n in names) == READ_MODELS
    for name, names in projectors.items():
        assert name == f"projector-{'+'.join(names)}"


def test_eight_cores_get_a_process_per_read_model() -> None:
    projectors = _projectors(8)
    del projectors["projector"]
    assert sorted(projectors) == sorted(f"projector-{n}" for n in READ_MODELS)


def test_without_the_flag_one_projector_runs_everything() -> None:
    specs = [s for s in children(1, 1, cores=8) if s.name.startswith("projector")]
    assert [(s.name, "--only" in s.argv) for s in specs] == [("projector", False)]
