"""Nothing runs code that came with data: remote code named by a model folder, pickle payloads in checkpoints."""

import json
from pathlib import Path

import pytest
import torch

from annotate.testing import TINY_ZIPFORMER
from clsp.cli import main
from clsp.errors import ClspError
from clsp.model import CLSPModel
from clsp.model.checkpoints import load_spear_checkpoint, load_torch_file
from clsp.model.speech import ZipformerSpeechEncoder


class Payload:
    """A crafted pickle: unpickling it runs ``exec`` (what a malicious checkpoint would do), leaving a marker."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def remote_code_model(model_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the exported tiny model whose config.json asks for trust_remote_code, with a text encoder
    ``auto_map`` pointing at a module that leaves a marker when imported."""
    import shutil

    d = tmp_path / "remote-model"
    shutil.copytree(model_dir, d)
    marker = tmp_path / "remote_code_ran"
    cfg = json.loads((d / "config.json").read_text())
    cfg["text"]["trust_remote_code"] = True
    (d / "config.json").write_text(json.dumps(cfg))
    text_cfg = json.loads((d / "text_encoder" / "config.json").read_text())
    text_cfg["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"}
    (d / "text_encoder" / "config.json").write_text(json.dumps(text_cfg))
    (d / "text_encoder" / "evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertConfig, BertModel\n"
        "class EvilConfig(BertConfig):\n    model_type = 'bert'\n"
        "class EvilModel(BertModel):\n    config_class = EvilConfig\n")
    return d, marker


def test_a_model_folder_cannot_grant_itself_remote_code(model_dir, tmp_path, capsys):
    d, marker = remote_code_model(model_dir, tmp_path)
    with pytest.raises(ClspError, match="asks to run code shipped in its folder.*--trust-remote-code"):
        CLSPModel.from_pretrained(d)
    wav = tmp_path / "a.wav"
    import numpy as np
    import soundfile as sf

    sf.write(wav, np.random.default_rng(0).normal(0, 0.1, 16000).astype("float32"), 16000)
    assert main(["score", "--model", str(d), "--audio", str(wav), "--text", "a voice", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clsp: error:") and err.count("\n") == 1 and "trust_remote_code" in err
    assert not marker.exists()  # the folder's code never ran


def test_a_crafted_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "payload_ran"
    src = ZipformerSpeechEncoder(TINY_ZIPFORMER)
    torch.save({"model": src.state_dict(), "extra": Payload(marker)}, tmp_path / "spear.pt")
    with pytest.raises(ClspError, match=r"refusing to load: the checkpoint holds a Python object \((builtins\.)?exec\)"):
        load_spear_checkpoint(ZipformerSpeechEncoder(TINY_ZIPFORMER), tmp_path / "spear.pt")
    assert not marker.exists()
    # the same weights without the payload load (paths, as icefall stores its params, are fine)
    torch.save({"model": src.state_dict(), "exp_dir": Path("exp/run1"), "epoch": 3}, tmp_path / "ok.pt")
    assert load_spear_checkpoint(ZipformerSpeechEncoder(TINY_ZIPFORMER), tmp_path / "ok.pt").ok
    assert load_torch_file(tmp_path / "ok.pt")["exp_dir"] == Path("exp/run1")


def test_training_does_not_resume_from_a_crafted_checkpoint(small_corpus, tmp_path):
    from annotate.testing import tiny_train_config
    from clsp.train.trainer import train

    marker = tmp_path / "payload_ran"
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    torch.save({"model": {}, "config": {"stage": 1}, "x": Payload(marker)}, tmp_path / "run" / "checkpoints" / "step-5.pt")
    with pytest.raises(ClspError, match=r"step-5\.pt: refusing to load"):
        train(tiny_train_config("demo-stage1.yaml", "max_steps=6"), small_corpus, tmp_path / "run", progress=False)
    assert not marker.exists()
