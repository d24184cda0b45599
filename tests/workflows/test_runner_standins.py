"""The local runner never lets a step succeed that neither ran nor was stood in, and its tool stand-ins refuse
what the real tools refuse (sandbox.actions_runner, sandbox.standin_tools)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from sandbox.actions_runner import LocalRunner


def runner(tmp_path: Path, workflow: str, files: dict[str, str] | None = None) -> LocalRunner:
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "w.yml").write_text(textwrap.dedent(workflow))
    for name, text in (files or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    return LocalRunner(repo, python_bin=Path(sys.executable).parent, variables=lambda env: {},
                       github={"repository": "acme/x", "run_id": "1"}, aws_endpoint="http://127.0.0.1:9")


def test_an_action_without_a_stand_in_fails_the_job(tmp_path: Path) -> None:
    result = runner(tmp_path, """
        on: push
        jobs:
          j:
            steps:
              - uses: someone/unknown-action@v1
              - run: echo after
    """).run("w.yml", "j", inputs={}, event="push")
    assert result.outcome == "failure"
    assert "no stand-in for someone/unknown-action" in result.log
    assert result.steps == [("someone/unknown-action@v1", "failure"), ("echo after", "skipped")]


def test_a_tool_command_no_stand_in_implements_fails_the_step(tmp_path: Path) -> None:
    result = runner(tmp_path, """
        on: push
        jobs:
          j:
            steps:
              - run: docker compose up
    """).run("w.yml", "j", inputs={}, event="push")
    assert result.outcome == "failure" and "`docker compose` is not implemented here" in result.log


def test_stand_ins_are_recorded_and_refuse_what_the_real_tools_refuse(tmp_path: Path) -> None:
    files = {"app/Dockerfile": 'FROM scratch\nCMD ["app.handler"]\n', "app/app.py": "x = 1\n"}
    result = runner(tmp_path, """
        on: push
        jobs:
          j:
            steps:
              - name: build
                run: docker build --file app/Dockerfile --tag app:1 app
              - name: scan a directory that is not there
                run: trivy config --severity HIGH --exit-code 1 infra
    """, files).run("w.yml", "j", inputs={}, event="push")
    assert result.steps == [("build", "success"), ("scan a directory that is not there", "failure")]
    assert "stat infra: no such file or directory" in result.log
    assert result.stand_ins and result.stand_ins[0][0] == "build" and "docker build" in result.stand_ins[0][1]


def test_push_without_login_is_refused(tmp_path: Path) -> None:
    files = {"app/Dockerfile": "FROM scratch\n"}
    result = runner(tmp_path, """
        on: push
        jobs:
          j:
            steps:
              - run: |
                  docker build --tag app:1 app
                  docker tag app:1 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1
                  docker push 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1
    """, files).run("w.yml", "j", inputs={}, event="push")
    assert result.outcome == "failure" and "no basic auth credentials" in result.log


def test_a_matrix_job_runs_every_leg(tmp_path: Path) -> None:
    r = runner(tmp_path, """
        on: push
        jobs:
          j:
            strategy:
              matrix:
                environment: [dev, staging]
            steps:
              - run: echo "leg ${{ matrix.environment }}"
    """)
    jobs = r.run_workflow("w.yml", inputs={}, event="push")
    assert jobs["j"].outcome == "success"
    assert "leg dev" in jobs["j"].log and "leg staging" in jobs["j"].log
