"""Run ``btlstm`` in this process or a child and check its one-line error (tests/test_bounds.py,
tests/test_causes.py, tests/test_messages.py)."""

import os
import subprocess
import sys
from pathlib import Path

from btlstm.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cli(argv, capsys) -> tuple[int, str]:
    """``btlstm ARGV`` in this process: (exit code, stderr); argparse's SystemExit caught."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    return rc, capsys.readouterr().err


def child(argv, timeout: float = 120, pre: str = "") -> tuple[int, str]:
    """``btlstm ARGV`` in a child Python (``pre``: code run first, e.g. a setrlimit)."""
    code = f"import sys\n{pre}\nfrom btlstm.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    p = subprocess.run(
        [sys.executable, "-c", code, *[str(a) for a in argv]],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    return p.returncode, p.stderr


def one_error(rc, err: str, *needles: str) -> str:
    """Assert exit 2, exactly one ``btlstm: error:`` line, no traceback; every needle in
    that line. Returns the line."""
    lines = [line for line in err.splitlines() if line.startswith("btlstm: error:")]
    assert "Traceback" not in err, err
    assert rc == 2, (rc, err)
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


_MANY = """
import contextlib, io, json, signal, sys
{pre}
from btlstm.cli import main

def _alarm(*_):
    raise TimeoutError("a case ran past {per_case} s (a blocking read?)")

signal.signal(signal.SIGALRM, _alarm)
out = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    signal.alarm({per_case})
    try:
        with contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as e:
        rc = e.code
    except BaseException as e:  # reported to the test, which fails on it
        rc, err = -1, io.StringIO(f"Traceback: {{type(e).__name__}}: {{e}}")
    signal.alarm(0)
    out.append([rc, err.getvalue()])
print(json.dumps(out))
"""


def children(argvs, pre: str = "", per_case: int = 30, timeout: float = 300) -> list:
    """Several ``btlstm`` invocations in ONE child Python (one import, not one per case),
    each under an alarm of ``per_case`` seconds: ``[(exit code, stderr), ...]``."""
    import json

    code = _MANY.format(pre=pre, per_case=per_case)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    argvs = [[str(a) for a in argv] for argv in argvs]
    p = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
    return [tuple(x) for x in json.loads(p.stdout.strip().splitlines()[-1])]
