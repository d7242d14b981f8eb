"""The weekly job's shape: every step has a Prefect task, retries only where it does I/O."""

from __future__ import annotations

import subprocess
import sys

from advocacy.pipelines import flows, job


def test_every_step_is_one_prefect_task_wrapping_the_same_function():
    steps = (*job.IO_STEPS, *job.PURE_STEPS)
    assert len(set(steps)) == len(steps)
    assert set(flows.TASKS) == set(steps)
    for step, task in flows.TASKS.items():
        assert task.fn is step


def test_retries_only_on_io_steps():
    for step, task in flows.TASKS.items():
        expected = flows.IO_RETRIES["retries"] if step in job.IO_STEPS else 0
        assert task.retries == expected, step.__name__
        if step in job.IO_STEPS:
            assert task.retry_condition_fn is flows.IO_RETRIES["retry_condition_fn"]


def test_the_job_runs_without_prefect():
    code = (
        "import sys, advocacy.pipelines.job\n"
        "print(any(m.split('.')[0] == 'prefect' for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_plain_runner_is_a_plain_call():
    assert job.PLAIN.step(divmod, 7, 2) == (3, 1)
