"""Kill at random moments, bounded (issue 19.1): commands SIGKILLed during their atomic writes and
resumed end with the outputs of an uninterrupted run, bit for bit.

The harness is ``bench/kill_soak.py`` (the long soak draws kill points at random, by write index and
by delay); here each command is killed at one or two chosen writes -- during a checkpoint, during
the final result -- so the suite stays within its time budget and never flakes.  Commands run as
children forked from one process that imported latentdd once (the harness's fork launcher).
"""

import pytest
from conftest import load_bench_script

ks = load_bench_script("kill_soak")


def at(name: str, nth: int = 1):
    """Kill during the ``nth`` write of the file ``name`` (temp file complete, not yet renamed)."""
    return ks.Kill("file", nth, name)


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    launcher = ks.ForkLauncher()
    table = ks.commands(cgen_steps=6)  # the GAN trainer's periodic checkpoint is the soak's to cross
    yield ks.Harness(tmp_path_factory.mktemp("kills"), launcher, table=table, control=False)
    launcher.close()


CASES = {
    # the resume continues from the checkpoint before the killed one; then killed writing the set
    "distill-dm-pixel": [at("checkpoint.pt", 2), at("synset.safetensors")],
    "distill-dm-latent": [at("checkpoint.pt", 3)],
    "distill-mtt-pixel": [at("checkpoint.pt", 2)],  # learned step size and expert draws resume too
    "experts": [at("expert_1.safetensors")],  # expert 0 kept, expert 1 trained again
    "prior-cgen": [at("prior.ckpt.pt"), at("prior.safetensors")],  # from scratch, then from the ckpt
    "evaluate": [ks.Kill("write", 3), at("metrics.json")],  # finished networks kept, metrics redone
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_killed_command_resumes_to_the_uninterrupted_outputs(harness, name):
    command = harness.table[name]
    trial = harness.trial(command, CASES[name], "trial")
    assert len(trial.kills) == len(CASES[name]), f"a kill point was not reached: {trial}"
    assert trial.matched, trial.problem
    assert trial.launches == len(CASES[name]) + 1


def test_a_distillation_killed_writing_its_grid_resumes_whole(harness):
    """Once failed: a resume found synset.safetensors and called the run complete, leaving it without
    grid.png and distill.json.  Now a run is complete only with distill.json, and the final checkpoint
    is written before the results, so the resume rewrites them."""
    trial = harness.trial(harness.table["distill-dm-pixel"], [at("grid.png")], "grid")
    assert trial.matched, trial.problem


def test_dc_resumed_inside_an_outer_loop_matches(harness):
    """Once failed by ~5e-7: the resumed outer-loop network was not channels-last."""
    trial = harness.trial(harness.table["distill-dc-pixel"], [at("checkpoint.pt", 2)], "mid-loop")
    assert trial.matched, trial.problem
