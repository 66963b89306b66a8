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
