"""The CI workflow (.github/workflows/report.yml): valid against GitHub's workflow schema (check-jsonschema's
vendored copy, read offline: actionlint has no package on the registry), its actions at the current majors (the
first to run on Node 24 are older: checkout 5, setup-python 6, upload-artifact 6; as of late 2026 each is at 7),
a least-privilege token, pip's cache on, and only what `make report` needs installed."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML  # check-jsonschema's own YAML reader (YAML 1.2: `on:` stays a key, not True)

from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "report.yml"
CURRENT_MAJORS = {"actions/checkout": 7, "actions/setup-python": 7, "actions/upload-artifact": 7}
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def offline() -> dict[str, str]:
    """Any attempt to reach the network fails at once: the schema must come from the installed package."""
    dead = "http://127.0.0.1:9"
    return {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
            "NO_PROXY": "", "no_proxy": ""}


def validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(path)],
                          env=offline(), capture_output=True, text=True, timeout=60)


def workflow() -> dict:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def steps() -> list[dict]:
    (job,) = workflow()["jobs"].values()
    return job["steps"]


def test_the_workflow_is_valid_against_githubs_schema_offline(tmp_path):
    checked = validate(WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yml"  # the validator does refuse: a permission GitHub does not know
    broken.write_text(WORKFLOW.read_text().replace("contents: read", "contents: reed"))
    assert validate(broken).returncode == 1


def test_every_action_is_pinned_to_its_current_major():
    used = [step["uses"] for step in steps() if "uses" in step]
    assert {use.split("@")[0] for use in used} == set(CURRENT_MAJORS)
    for use in used:
        name, _, version = use.partition("@")
        major = re.fullmatch(r"v(\d+)(?:\.\d+){0,2}", version)
        assert major and int(major.group(1)) >= CURRENT_MAJORS[name], use


def test_the_token_may_only_read_the_repository():
    assert workflow()["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow()["jobs"].values())


def test_pip_downloads_are_cached_on_the_requirements():
    (setup,) = [step for step in steps() if step.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == "requirements*.txt"


def test_only_what_make_report_needs_is_installed_and_make_report_builds():
    commands = "\n".join(step.get("run", "") for step in steps())
    installs = re.findall(r"pip install[^\n]*", commands)
    assert installs == ["pip install --disable-pip-version-check -r requirements.txt"]
    assert "touch .venv/.installed" in commands  # make's stamp: `make report` then installs nothing more
    assert re.search(r"^\s*make report\b", commands, re.MULTILINE)


@pytest.mark.parametrize("needed", ["libpango-1.0-0", "libpangoft2-1.0-0"])
def test_weasyprints_system_libraries_are_installed(needed):
    assert any(needed in step.get("run", "") and "apt-get install" in step["run"] for step in steps())
