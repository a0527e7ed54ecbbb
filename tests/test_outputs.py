"""Output safety: one run per output folder (a lock naming its holder), outputs that are files or folders
where the other is expected, synth never writing over another corpus, stats without credentials."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from clsp.cli import main
from clsp.data.manifest import HELDOUT_SPLIT, count_cuts, split_manifest_path
from clsp.errors import ClspError
from clsp.outputs import LOCK_NAME, OutputLock

REPO = Path(__file__).resolve().parents[1]
HOLDER = """
import sys
from clsp.outputs import OutputLock
with OutputLock(sys.argv[1], sys.argv[2]):
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def hold_lock(folder: Path, what: str) -> subprocess.Popen:
    """Another process holding the output lock of ``folder`` (as a running annotate/verify would)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), what], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("stage", ["annotate", "verify"])
def test_a_second_run_on_one_output_refuses_naming_the_holder(stage, small_corpus, tmp_path, capsys):
    out = tmp_path / "out"
    args = ([stage, "--input", str(split_manifest_path(small_corpus, "dev")), "--output", str(out), "--quiet"]
            + (["--config", str(REPO / "configs" / "annotate-demo.yaml")] if stage == "annotate" else
               ["--checks", "rules"]))
    holder = hold_lock(out, stage)
    try:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"another {stage} run (PID {holder.pid} on " in err, err
        assert not (out / "cuts_dev.jsonl.gz").exists()
    finally:
        holder.communicate("")
    assert main(args) == 0  # the holder ended: the lock is free
    assert (out / "cuts_dev.jsonl.gz").is_file() and not (out / LOCK_NAME).exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(f"{dead.stdout.strip()} somehost\n")  # as a kill -9 leaves it
    with OutputLock(tmp_path, "annotate"):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] != dead.stdout.strip()
        with pytest.raises(ClspError, match="another annotate run"):
            with OutputLock(tmp_path, "annotate"):
                pass


def test_outputs_that_name_the_wrong_kind_of_path_are_one_line_errors(small_corpus, model_dir, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    manifest = split_manifest_path(small_corpus, "dev")
    wav = next(iter((small_corpus / "wavs").glob("*.wav")))
    for argv, needle in [
        (["annotate", "--input", str(manifest), "--output", str(a_file)], "--output must be a folder"),
        (["verify", "--input", str(manifest), "--output", str(a_file), "--checks", "rules"], "--output must be a folder"),
        (["search", "build", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(a_file)],
         "--out must be a folder"),
        (["eval", "retrieval", "--model", str(model_dir), "--manifest", str(manifest), "--out", str(a_file)],
         "--out must be a folder"),
        (["score", "--model", str(model_dir), "--audio", str(wav), "--text", "x", "--out", str(tmp_path)],
         "--out must be a file name, but a folder"),
        (["train", "--config", str(REPO / "configs" / "demo-stage1.yaml"), "--data", str(small_corpus),
          "--out", str(a_file)], "--out must be a folder"),
        (["synth", "--out", str(a_file), "--num-clips", "3"], "--out must be a folder"),
    ]:
        assert main([*argv, "--quiet"]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("clsp: error:") and err.count("\n") == 1 and needle in err, (argv, err)
    assert a_file.read_text() == "x"


def test_synth_does_not_write_over_another_corpus(small_corpus, tmp_path, capsys):
    import shutil

    out = tmp_path / "corpus"
    shutil.copytree(small_corpus, out)
    before = split_manifest_path(out, "train").read_bytes()
    assert main(["synth", "--num-clips", "3", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "--overwrite" in err and err.count("\n") == 1
    assert split_manifest_path(out, "train").read_bytes() == before
    assert main(["synth", "--num-clips", "3", "--out", str(out), "--quiet", "--overwrite", "--workers", "1"]) == 0
    splits = json.loads((out / "synth.json").read_text())["splits"]
    assert sum(s["clips"] for s in splits.values()) == 3  # the new corpus replaced the old one
    assert sum(count_cuts(split_manifest_path(out, s)) for s in splits) == 3
    assert split_manifest_path(out, HELDOUT_SPLIT).is_file()
    # replaced by a corpus without a held-out source: the old held-out manifest must not stay behind as an input
    assert main(["synth", "--num-clips", "3", "--out", str(out), "--quiet", "--overwrite", "--workers", "1",
                 "--set", "heldout_source=null"]) == 0
    assert not split_manifest_path(out, HELDOUT_SPLIT).exists()


def test_credentials_in_base_url_are_not_written(small_corpus, tmp_path):
    from annotate.config import AnnotateConfig
    from annotate.pipeline import annotate
    from annotate.testing import FaultServer
    from clsp.config import load_config

    manifest = split_manifest_path(small_corpus, "dev")
    with FaultServer() as server:
        url = server.base_url.replace("http://", "http://user:s3cret@") + "?api_key=s3cret"
        cfg = load_config(AnnotateConfig, None, ["engine=openai", "engine_config.openai.model=m", "kinds=[global]",
                                                 f"engine_config.openai.base_url={url}"])
        stats = annotate(cfg, [manifest], tmp_path / "out", progress=False)
        assert server.total > 0 and stats["captions_written"] > 0  # the credentials were used...
    written = (tmp_path / "out" / "stats.json").read_text()
    assert "s3cret" not in written  # ...and never written
    assert json.loads(written)["config"]["engine_config"]["openai"]["base_url"].startswith("http://***@127.0.0.1:")
