"""A built wheel works without the source tree (slow: builds and installs the package, well under a minute alone).

The wheel is built offline from a copy of the packages (``pip wheel --no-deps --no-build-isolation``) and installed
with ``pip install --target`` into a folder outside the repository. Every check then runs from that folder with
the installed copy first on ``PYTHONPATH`` and the shared venv's editable-install finder removed, so a module
missing from the wheel is an ``ImportError``, not a silent fall-back to the checkout: the installed ``clsp
annotate --help`` (its subcommand found through the wheel's entry points), every shipped config loaded by name
through the packaged resources (``tests/test_config.py``'s own test, run against the wheel), the prompts, and
the local ``evaluate`` metric modules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# The project's top-level packages: every folder of the checkout holding an __init__.py, but the development ones.
NOT_SHIPPED = {"tests", "benchmarks", "scripts"}
PACKAGES = sorted(p.parent.name for p in REPO.glob("*/__init__.py") if p.parent.name not in NOT_SHIPPED)
# Dropped first in every child: the editable install's import finder and its path entry (the shared venv has one
# for the checkout, which would find a package the wheel lacks).
ISOLATE = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, '__module__', '')"
           ".startswith('__editable__')]; sys.path[:] = [p for p in sys.path if '__editable__' not in p]\n")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    run = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert run.returncode == 0, f"{cmd[:4]} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """``(wheel, site, env)``: the built wheel, the folder it is installed in, the environment to run it with."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), str(src)], tmp)
    (wheel,) = (tmp / "dist").glob("*.whl")
    site = tmp / "site"
    _run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)], tmp)
    env = {**os.environ, "PYTHONPATH": str(site)}
    return wheel, site, env


def test_the_wheel_holds_every_package_config_and_entry_point(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}) == PACKAGES
    shipped = sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").rglob("*.yaml"))
    assert shipped and set(shipped) <= set(names)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[clsp.commands]" in text and "annotate = annotate.cli:add_parsers" in text


def test_the_installed_package_runs_from_outside_the_checkout(installed, tmp_path):
    _, site, env = installed
    check = ISOLATE + textwrap.dedent(f"""
        import importlib, json
        from pathlib import Path
        site = Path({str(site)!r})
        where = {{name: importlib.import_module(name).__file__ for name in {PACKAGES!r}}}
        assert all(Path(f).is_relative_to(site) for f in where.values()), where
        import configs
        from annotate.prompts import available_prompts, load_prompt
        from eval.metrics import METRIC_NAMES, metric_path
        from verify.llm_check import load_prompt as load_checklist
        assert load_prompt("clsp-style@1").id == "clsp-style@1"
        assert load_checklist("verifier").prompt_id.startswith("verifier@")
        metrics = [n for n in METRIC_NAMES if (metric_path(n) / f"{{n}}.py").is_file()]
        print(json.dumps({{"configs": configs.shipped_configs(), "prompts": available_prompts(),
                          "configs_dir": str(configs.CONFIGS_DIR), "metrics": metrics}}))
    """)
    found = json.loads(_run([sys.executable, "-c", check], tmp_path, env).stdout)
    assert Path(found["configs_dir"]).is_relative_to(site)
    assert found["configs"] == sorted(p.name for p in (REPO / "configs").glob("*.yaml"))
    assert found["prompts"] and len(found["prompts"]) == len(list((REPO / "configs" / "prompts").glob("*.yaml")))
    assert found["metrics"] == ["retrieval", "classification", "correlation"]

    # the installed console script; `annotate` comes from the wheel's entry points
    helped = _run([str(site / "bin" / "clsp"), "annotate", "--help"], tmp_path, env)
    assert helped.stdout.startswith("usage: clsp annotate") and "--config" in helped.stdout

    # every shipped config, by name through the packaged resources, and the entry points, against the wheel
    tests = [f"{REPO / 'tests' / 'test_config.py'}::test_every_shipped_config_loads",
             f"{REPO / 'tests' / 'test_config.py'}::test_a_shipped_config_is_found_by_name_from_any_folder",
             f"{REPO / 'tests' / 'test_cli.py'}::test_stage_commands_are_found_as_entry_points"]
    pytest_run = ISOLATE + f"import pytest; sys.exit(pytest.main({['-q', '-p', 'no:cacheprovider', *tests]!r}))"
    ran = _run([sys.executable, "-c", pytest_run], tmp_path, env)
    assert "3 passed" in ran.stdout
