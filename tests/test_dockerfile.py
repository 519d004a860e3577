"""Dockerfile.cuda and .dockerignore: parsed (dockerfile-parse), not built (no Docker here)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

import dockerfile_parse  # noqa: E402  (the test extra)

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile.cuda"
DOCKERIGNORE = ROOT / ".dockerignore"
BUILD_LINE = "docker build -f Dockerfile.cuda -t hrnn-cuda ."
RUN_LINE = "docker run --gpus all hrnn-cuda run"
CUDA_BASES = (
    re.compile(r"^nvidia/cuda:(?P<cuda>1[2-9]\.\d+(\.\d+)?)-(cudnn\d*-)?(runtime|devel|base)-ubuntu(?P<ubuntu>\d\d)\.04$"),
    re.compile(r"^pytorch/pytorch:(?P<torch>2\.\d+(\.\d+)?)-cuda(?P<cuda>1[2-9]\.\d+)-cudnn\d+-(runtime|devel)$"),
)


@pytest.fixture(scope="module")
def parsed():
    # A path not named "Dockerfile" is taken for a directory by the parser: hand it the open file instead.
    with DOCKERFILE.open("rb") as fh:
        dfp = dockerfile_parse.DockerfileParser(fileobj=fh, env_replace=False)
        dfp.structure  # parse while the file is open
        yield dfp


def _instructions(dfp, name: str) -> list[dict]:
    return [i for i in dfp.structure if i["instruction"] == name]


def _runs(dfp) -> list[str]:
    return [" ".join(i["value"].split()) for i in _instructions(dfp, "RUN")]


def _args(dfp) -> dict[str, str]:
    out = {}
    for i in _instructions(dfp, "ARG"):
        name, _, default = i["value"].partition("=")
        out[name.strip()] = default.strip().strip('"')
    return out


def _expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def test_cuda_base_image_with_a_pinned_tag(parsed):
    froms = _instructions(parsed, "FROM")
    assert len(froms) == 1, "one stage"
    image = froms[0]["value"].split()[0]
    assert parsed.baseimage == image
    assert any(p.match(image) for p in CUDA_BASES), f"{image!r} is not a CUDA 12+ runtime image"
    match = CUDA_BASES[0].match(image)
    if match:  # Ubuntu 22.04+ ships Python >= 3.10, which the project requires
        assert int(match.group("ubuntu")) >= 22
        assert any("python3" in r for r in _runs(parsed))


def test_no_latest_tags_anywhere(parsed):
    for i in _instructions(parsed, "FROM"):
        name = i["value"].split()[0]
        assert ":" in name.rsplit("/", 1)[-1] or "@sha256:" in name, f"untagged image {name!r}"
        assert not name.endswith(":latest")
    assert not re.search(r":latest\b", DOCKERFILE.read_text())


def test_cuda_torch_then_the_project_installed(parsed):
    args = _args(parsed)
    runs = [_expand(r, args) for r in _runs(parsed)]
    torch_runs = [i for i, r in enumerate(runs) if "pip install" in r and re.search(r"\btorch==\d+\.\d+", r)]
    assert torch_runs, "PyTorch pinned to a version"
    assert re.search(r"download\.pytorch\.org/whl/cu1[2-9]\d", runs[torch_runs[0]]), "a CUDA build of PyTorch"
    project_runs = [i for i, r in enumerate(runs) if re.search(r"pip install (-e |--editable )?\.(\s|$|&)", r)]
    assert project_runs, "the project is pip-installed from the copied repository"
    assert torch_runs[0] < project_runs[0], "CUDA torch first, so the project's torch requirement is already met"
    # The copied sources include the package code and the embedded sample (the CLI's default input).
    order = [i["instruction"] for i in parsed.structure]
    copies = _instructions(parsed, "COPY")
    sources = {s for c in copies for s in c["value"].split()[:-1]}
    assert "." in sources or {"hrnn", "tuning", "data", "pyproject.toml"} <= {s.strip("./") for s in sources}
    first_copy = order.index("COPY")
    install_at = [k for k, i in enumerate(parsed.structure) if i["instruction"] == "RUN"][project_runs[0]]
    assert first_copy < install_at


def test_entrypoint_and_default_command(parsed):
    entry = _instructions(parsed, "ENTRYPOINT")
    cmd = _instructions(parsed, "CMD")
    assert len(entry) == 1 and len(cmd) == 1
    assert json.loads(entry[0]["value"]) == ["hrnn"], "exec form, the console script"
    assert json.loads(cmd[0]["value"]) == ["run"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^hrnn\s*=\s*"tuning\.cli:main"', pyproject, re.M)
    from tuning.cli import build_parser

    assert build_parser().parse_args(["run"]).command == "run"


def test_build_and_run_lines_documented():
    text = DOCKERFILE.read_text()
    comments = "\n".join(line.lstrip("# ").rstrip() for line in text.splitlines() if line.startswith("#"))
    assert BUILD_LINE in comments
    assert RUN_LINE in comments


def test_readme_documents_the_image():
    text = (ROOT / "README.md").read_text()
    assert BUILD_LINE in text and RUN_LINE in text


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern matches a path or a parent."""
    parts = path.split("/")
    candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        names = [pat, pat[3:]] if pat.startswith("**/") else [pat]
        hit = False
        for c in candidates:
            for name in names:
                if fnmatch.fnmatchcase(c, name) or ("/" not in name and pat.startswith("**/")
                                                    and fnmatch.fnmatchcase(c.rsplit("/", 1)[-1], name)):
                    hit = True
        if hit:
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_context_small_but_complete():
    patterns = [ln.strip() for ln in DOCKERIGNORE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    for path in (".venv/bin/python", ".git/HEAD", "hrnn-workspace/solutions/x/request.json",
                 "hrnn/__pycache__/cli.cpython-310.pyc", ".pytest_cache/v/x", ".hypothesis/examples/x",
                 "hrnn_personalize.egg-info/PKG-INFO", "workspace/x", "runs/x"):
        assert _ignored(path, patterns), f"{path} should not be sent to the Docker daemon"
    for path in ("pyproject.toml", "tuning/cli/__init__.py", "tuning/workspace.py", "data/sample_interactions.csv",
                 "data/requests/hpo_request.json"):
        assert (ROOT / path).exists()
        assert not _ignored(path, patterns), f"{path} is needed in the image"
