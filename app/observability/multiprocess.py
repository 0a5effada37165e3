"""Prometheus multi-process mode for `parley api --workers N`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def prepare_directory(data_dir: str) -> str:
    """A fresh, empty directory for this server's metric files. Emptied at start so counters
    of a previous run (whose pids may be reused) are not added to this one's."""
    directory = Path(data_dir).resolve() / f"prometheus-{os.getpid()}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return str(directory)
