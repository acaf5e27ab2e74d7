"""The README's quickstart runs as written."""

from __future__ import annotations

import re

from conftest import ROOT


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    quickstart = next(b for b in blocks if "ModuleBank" in b)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(quickstart, "README.md", "exec"), namespace)
    assert namespace["routing"].indices.shape == (256, 2)
    assert namespace["y"].shape == (256, 32)
    assert sum(p.numel() for p in namespace["module"].parameters()) == 32 * 64 + 64 + 64 * 32 + 32


def test_readme_names_the_ci_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()
