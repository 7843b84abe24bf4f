"""Claiming a folder (neuroplast.io.claim_folder): one writer at a time, a dead writer's lock taken over,
a killed write's temp files removed. Oracles: a second real process holding the lock, a pid that
cannot be running, and the file names atomic_write itself makes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuroplast.io import LOCK, FolderBusy, atomic_write, claim_folder

HOLD = """
import sys, time
from pathlib import Path
from neuroplast.io import claim_folder
with claim_folder(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(30)
"""


def _dead_pid() -> int:
    """A pid that ran and is gone (a finished child)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_process_is_refused_naming_the_lock_and_the_holder(tmp_path) -> None:
    folder = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=rf"pid {holder.pid}, lock .*{LOCK}") as caught:
            with claim_folder(folder):
                pass
        assert len(str(caught.value).splitlines()) == 1
        assert (folder / LOCK).read_text().strip() == str(holder.pid)  # the holder's lock is left alone
    finally:
        holder.kill()
        holder.wait()
    with claim_folder(folder):  # its process died (kill -9): the lock is free again
        assert (folder / LOCK).read_text().strip() == str(os.getpid())
    assert not (folder / LOCK).exists()  # released: no lock file is left behind


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    dead = _dead_pid()
    (folder / LOCK).write_text(f"{dead}\n")  # what a kill -9 leaves: the file, no flock
    notes: list[str] = []
    with claim_folder(folder, note=notes.append):
        assert (folder / LOCK).read_text().strip() == str(os.getpid())
    assert len(notes) == 1 and f"pid {dead}" in notes[0] and "no longer running" in notes[0]


def test_the_claim_is_re_entrant_in_one_process_and_removes_a_folder_it_made_on_failure(tmp_path) -> None:
    folder = tmp_path / "new"
    with pytest.raises(RuntimeError, match="boom"):
        with claim_folder(folder):
            with claim_folder(folder):  # the pipeline around the training: the same process, no deadlock
                assert (folder / LOCK).is_file()
            assert (folder / LOCK).is_file()  # the inner block did not release the outer claim
            raise RuntimeError("boom")
    assert not folder.exists()  # made by the claim, left empty: removed


def test_temp_files_of_a_killed_write_are_removed_on_the_next_claim_and_others_kept(tmp_path) -> None:
    folder = tmp_path / "run"
    (folder / "checkpoint").mkdir(parents=True)

    def killed(p: Path) -> None:  # the writer dies after writing its temp file, before the rename
        p.write_text("half")
        os.replace(p, p.with_name(p.name + ".kept"))  # keep it where atomic_write's cleanup cannot see it
        raise KeyboardInterrupt

    left = []
    for target in (folder / "metrics.json", folder / "checkpoint" / "last.pt"):
        with pytest.raises(KeyboardInterrupt):
            atomic_write(target, killed)
        kept = next(target.parent.glob(f".{target.name}.*.tmp.kept"))
        left.append(kept.rename(kept.with_name(kept.name.removesuffix(".kept"))))  # as a kill -9 leaves it
    mine = folder / ".notes.tmp"  # a user's file that atomic_write did not make
    mine.write_text("keep me")
    assert all(p.is_file() for p in left)
    before = time.time()
    with claim_folder(folder):
        assert not any(p.exists() for p in left)
        assert mine.read_text() == "keep me"
    assert time.time() - before < 5


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    precious = tmp_path / "bashrc"
    precious.write_text("export PATH=...\n")
    os.symlink(precious, folder / LOCK)  # a hostile folder
    with pytest.raises(Exception, match=r"run\.lock cannot be opened as a lock file") as caught:
        with claim_folder(folder):
            pass
    assert len(str(caught.value).splitlines()) == 1
    assert precious.read_text() == "export PATH=...\n"
