import subprocess
import sys
from pathlib import Path

import pytest

from clsp.cli import build_parser, main

CLSP = str(Path(sys.executable).parent / "clsp")


def subcommands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from subcommands(sub, (*prefix, name))


@pytest.mark.parametrize("cmd", list(subcommands(build_parser())), ids=" ".join)
def test_every_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*cmd, "--help"])
    assert exc.value.code == 0
    assert "usage: clsp" in capsys.readouterr().out


def test_console_script_synth_then_reuse(tmp_path):
    out = tmp_path / "c"
    run = subprocess.run([CLSP, "synth", "--num-clips", "10", "--out", str(out), "--quiet"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "synth: 10 clips made in" in run.stdout
    # the default config holds one source out (flite): its clips are a split of their own
    assert sorted(p.name for p in out.glob("cuts_*")) == ["cuts_dev.jsonl.gz", "cuts_heldout.jsonl.gz",
                                                          "cuts_test.jsonl.gz", "cuts_train.jsonl.gz"]
    assert len(list((out / "wavs").glob("*.wav"))) == 10
    again = subprocess.run([CLSP, "synth", "--num-clips", "10", "--out", str(out), "--quiet"],
                           capture_output=True, text=True)
    assert "synth: 10 clips reused" in again.stdout


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / "synth.yaml"
    cfg.write_text("num_clips: 5\nchange_fraction: lots\n")
    run = subprocess.run([CLSP, "synth", "--config", str(cfg), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr == f"clsp: error: {cfg}: key 'change_fraction' expected float, got str 'lots'\n"
    run = subprocess.run([CLSP, "synth", "--out", str(tmp_path / "o"), "--set", "max_segmnts=2"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "unknown key 'max_segmnts'" in run.stderr and run.stderr.count("\n") == 1


def test_one_line_flattens_errors_keeping_the_head_or_the_tail():
    from clsp.errors import one_line

    coloured = "\x1b[31mRayTaskError\x1b[0m:\n  Traceback\tlines\r\n"
    assert one_line(coloured) == "RayTaskError: Traceback lines"
    long = "head " + "x" * 50 + " cause"
    assert one_line(long, 20) == long[:17] + "..." and len(one_line(long, 20)) == 20
    assert one_line(long, 20, tail=True) == "..." + long[-17:]


def test_stage_commands_are_found_as_entry_points():
    from clsp.cli import command_plugins

    plugins = {ep.name: ep.value for ep in command_plugins()}
    assert {"annotate", "verify", "eval", "demo"} <= set(plugins), plugins
    assert plugins["demo"] == "recipes.cli:add_parsers"
    commands = {cmd[0] for cmd in subcommands(build_parser())}
    assert {"synth", "train", "annotate", "verify", "eval", "score", "demo"} <= commands


def _plugin_distribution(site, name: str, entry_point: str, module_source: str | None = None):
    """A minimal installed distribution under ``site``: a ``NAME-1.0.dist-info`` with ``METADATA`` and an
    ``entry_points.txt`` holding one ``clsp.commands`` entry, plus its module when ``module_source`` is given."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[clsp.commands]\n{entry_point}\n")
    if module_source is not None:
        (site / f"{name}.py").write_text(module_source)


HELLO = '''
def add_parsers(sub):
    p = sub.add_parser("hello", help="say hello")
    p.add_argument("--name", default="world")
    p.set_defaults(handler=lambda args: print(f"hello {args.name}") or 0)
'''


def test_a_third_party_command_is_discovered(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    _plugin_distribution(site, "clsp_hello", "hello = clsp_hello:add_parsers", HELLO)
    with pytest.raises(SystemExit):
        main(["hello"])  # not installed yet: argparse rejects the command
    assert "invalid choice: 'hello'" in capsys.readouterr().err
    monkeypatch.syspath_prepend(str(site))
    assert main(["hello", "--name", "CLSP"]) == 0
    assert capsys.readouterr().out == "hello CLSP\n"


def test_a_broken_plugin_is_a_warning_and_the_other_commands_still_run(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    _plugin_distribution(site, "clsp_broken", "broken = clsp_broken_missing:add_parsers")
    monkeypatch.syspath_prepend(str(site))
    commands = {cmd[0] for cmd in subcommands(build_parser())}
    assert "annotate" in commands and "broken" not in commands
    err = capsys.readouterr().err
    assert err.startswith("clsp: warning: command plugin 'broken' (clsp_broken_missing:add_parsers) did not load: "
                          "ModuleNotFoundError(") and err.count("\n") == 1
