"""Output-directory checks: their advice names the caller's controls (flags or a dialog's)."""

import pytest

from cdvae_core.train_dir import CLI_CONTROLS, Controls, OutputDirError, check_out_dir, check_resumable

DIALOG = Controls(out_hint="", resume="Resume", resume_on="tick Resume", resume_off="untick Resume")


def _messages(tmp_path, controls):
    held = tmp_path / "held"
    held.mkdir()
    (held / "config.json").write_text("{}")  # a run's folder
    (tmp_path / "empty").mkdir()
    out = []
    with pytest.raises(OutputDirError) as info:
        check_out_dir(held, resume=False, controls=controls)
    out.append(str(info.value))
    for folder in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(OutputDirError) as info:
            check_resumable(folder, controls)
        out.append(str(info.value))
    return out


def test_errors_name_the_callers_controls(tmp_path):
    """The Studio's train dialog calls these checks too, but they always said --resume / --out."""
    held, missing, empty = _messages(tmp_path, DIALOG)
    assert held.endswith("already holds files: tick Resume to continue that run, or choose a new directory")
    assert missing.endswith("it does not exist (untick Resume to start a run there)")
    assert empty.endswith("it is empty (untick Resume to start a run there)")
    assert not any("--" in m for m in (held, missing, empty))


def test_a_folder_of_other_files_is_not_offered_for_resuming(tmp_path):
    """"pass --resume to continue that run" for a folder holding no run led to "nothing to resume"."""
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match=r"already holds files, and no training run: choose a new directory$"):
        check_out_dir(tmp_path, resume=False)


def test_cdvae_train_keeps_its_flag_wording_by_default(tmp_path):
    assert CLI_CONTROLS == Controls()
    held, missing, empty = _messages(tmp_path, CLI_CONTROLS)
    assert "pass --resume to continue that run" in held
    assert "(leave out --resume to start a run there)" in missing and "(leave out --resume" in empty


def test_a_run_stopped_before_its_last_epoch_is_told_from_a_finished_one(tmp_path):
    """The Studio opened a cancelled run's folder as any model, its scatter empty without a word:
    ``stopped_early`` tells (epochs trained, epochs asked for) from its checkpoint and config.json."""
    from cdvae_core import training
    from cdvae_core.train_dir import stopped_early

    from test_training import tiny_cfgs, tiny_pairs

    model_cfg, train_cfg = tiny_cfgs(epochs=3)
    gen = training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "run")
    for record in gen:
        if record.stage == "epoch" and record.done == 1:
            gen.close()  # as Cancel does, after the first epoch was saved
            break
    assert stopped_early(tmp_path / "run") == (1, 3)
    model_cfg, one = tiny_cfgs(epochs=1)
    list(training.train(tiny_pairs(), model_cfg, one, tmp_path / "done"))
    assert stopped_early(tmp_path / "done") is None
    assert stopped_early(tmp_path / "nothing") is None
