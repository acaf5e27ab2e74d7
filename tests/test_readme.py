"""The README's quickstart runs as written; the README stays a front door; docs links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from conftest import ROOT

README_MAX_BYTES = 8500
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", flags=re.S)  # fenced blocks and inline code


def quickstart_namespace(tmp_path, monkeypatch) -> dict:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    quickstart = next(b for b in blocks if "ModuleBank" in b)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(quickstart, "README.md", "exec"), namespace)
    return namespace


def test_readme_quickstart_runs(tmp_path, monkeypatch):
    ns = quickstart_namespace(tmp_path, monkeypatch)
    assert ns["routing"].indices.shape == (256, 2)
    assert ns["y"].shape == (256, 32)
    assert ns["z"].shape == (256, 32)
    assert sum(p.numel() for p in ns["module"].parameters()) == 32 * 64 + 64 + 64 * 32 + 32


def test_readme_quickstart_routes_each_layer_on_its_own_ids(tmp_path, monkeypatch):
    ns = quickstart_namespace(tmp_path, monkeypatch)
    net, x, y, routings = ns["net"], ns["x"], ns["y"], ns["routings"]
    task_ids, robot_ids = ns["task_ids"], ns["robot_ids"]
    assert len(routings) == 2
    assert torch.equal(routings[0].indices[:, 0], task_ids)
    assert torch.equal(routings[1].indices[:, 0], robot_ids)
    for i in range(4):  # each sample ran its task module, then its robot module
        t, r = int(task_ids[i]), int(robot_ids[i])
        alone, _ = net(x[i : i + 1], path=ns["Path"](((t,), (r,))))
        torch.testing.assert_close(y[i : i + 1], alone)


def test_readme_names_the_ci_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()


def test_readme_is_a_front_door():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes (at most {README_MAX_BYTES}): move detail to docs/"


def relative_links(path: Path) -> list[str]:
    text = CODE.sub("", path.read_text())
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if (ROOT / "CHANGELOG.md").exists():
        files.append(ROOT / "CHANGELOG.md")
    return files


def test_relative_links_point_to_existing_files():
    broken = []
    for path in markdown_files():
        for target in relative_links(path):
            if not (path.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
    assert relative_links(ROOT / "README.md"), "README.md should link to docs/"
