"""The output directory of a compile: refuse foreign directories, lock, stage, swap, recover.

A compile into DIR never deletes what equihls did not write and never leaves a mixed project:
  - DIR must be absent, empty, or an equihls project (has equihls.json); any other directory is
    refused unless force (then the project is written into it and its other entries are kept).
  - a lock (flock on '.<name>.equihls-lock' beside DIR) admits one compile per DIR; a second one
    is refused at once, naming the holder's pid (no waiting, so no hang behind a stuck compile).
  - the project is built in 'DIR.partial.<pid>' (marked by LAYOUT.staging_marker) and installed only
    after it passed: renameat2(RENAME_EXCHANGE) swaps it with the old DIR atomically; without
    that syscall, DIR -> 'DIR.old.<pid>' then staging -> DIR, and a later compile or Project load
    puts the old project back if a kill fell between the two renames.
  - the previous tree, now 'DIR.old.<pid>', is disposed of after the swap: the entries equihls
    wrote are removed, every other entry is moved into the new project.
  - a failed compile leaves 'DIR.rejected' (marked); leftovers are removed only when marked.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import fcntl
import functools
import json
import os
import re
import shutil
import threading

from ..errors import EquihlsError
from ..project import LAYOUT

# files equihls writes into a project after the compile (check, rejected reports): never user data
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_local = threading.local()


def _paths(out_dir: str) -> tuple[str, str, str]:
    """(absolute real DIR, its parent, its base name); symlinks resolved so swaps act on the real dir."""
    real = os.path.realpath(out_dir)
    return real, os.path.dirname(real), os.path.basename(real)


def rejected_path(out_dir: str) -> str:
    """'DIR.rejected' as the user wrote DIR (for messages) ."""
    return LAYOUT.rejected(out_dir)


def _os_error(path: str, what: str, e: OSError) -> EquihlsError:
    return EquihlsError(f"{path}: cannot {what}: {e.strerror or e}")


def _is_project(path: str) -> bool:
    return os.path.isfile(os.path.join(path, LAYOUT.manifest))


def check_target(out_dir: str, force: bool = False):
    """Refuse an output directory equihls must not replace (raises EquihlsError, nothing touched).

    Refused always: DIR is the current directory or one of its parents, or exists and is not a
    directory. Refused without force: DIR is a non-empty directory without equihls.json."""
    real, _, _ = _paths(out_dir)
    cwd = os.path.realpath(os.getcwd())
    if cwd == real or cwd.startswith(real.rstrip("/") + "/"):
        raise EquihlsError(f"-o {out_dir}: is the current directory or one of its parents; equihls replaces its "
                           f"output directory, so choose a new or project directory such as hls_projects/NAME")
    if os.path.lexists(real) and not os.path.isdir(real):
        raise EquihlsError(f"-o {out_dir}: exists and is not a directory")
    if os.path.isdir(real) and not _is_project(real) and not force:
        try:
            entries = sorted(os.listdir(real))
        except OSError as e:
            raise _os_error(out_dir, "list the output directory", e) from None
        if entries:
            raise EquihlsError(f"-o {out_dir}: directory is not an equihls project (no {LAYOUT.manifest}) and is not "
                               f"empty ({len(entries)} entries, e.g. '{entries[0]}'); refusing to write into it. "
                               f"Choose another -o, or pass --force to write the project into it (its other files "
                               f"are kept)")


class Output:
    """A locked output directory of one compile (see the module docstring). Use open_output()."""

    def __init__(self, out_dir: str, force: bool = False, log=print):
        self.path = out_dir                       # as given (messages)
        self.real, self.parent, self.base = _paths(out_dir)
        self.force, self.log = force, log
        self._lock_fd = None

    # --- lock -------------------------------------------------------------------------------
    def lock(self):
        """Take the per-DIR lock, creating DIR's parent; raise EquihlsError naming the holder if busy."""
        try:
            os.makedirs(self.parent, exist_ok=True)
        except OSError as e:
            raise _os_error(self.parent, f"create the parent directory of -o {self.path}", e) from None
        path = lock_path(self.real)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise _os_error(self.parent, f"write the lock file {os.path.basename(path)} for -o {self.path}",
                            e) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise EquihlsError(f"-o {self.path}: another equihls compile (pid {holder}) is writing this project "
                                   f"(lock {path}); wait for it to finish or choose another -o") from None
            raise _os_error(path, "lock", e) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def close(self):
        """Release the lock (the lock file stays: removing it would let two compiles lock different files)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- staging ------------------------------------------------------------------------------
    def stage(self) -> str:
        """Recover/clean what earlier compiles left, then create and return the staging directory."""
        recover(self.real, self.log, locked=True)
        staging = LAYOUT.partial(self.real, os.getpid())
        try:
            os.makedirs(staging)
            with open(os.path.join(staging, LAYOUT.staging_marker), "w") as f:
                f.write("partial\n")
        except OSError as e:
            raise _os_error(staging, "create the staging directory", e) from None
        return staging

    def install(self, staging: str):
        """Replace DIR by the passed project in staging: atomic exchange (or a recoverable rename pair),
        then dispose of the previous tree. Raises EquihlsError if DIR became unreplaceable meanwhile."""
        check_target(self.path, self.force)
        os.unlink(os.path.join(staging, LAYOUT.staging_marker))
        rejected = LAYOUT.rejected(self.real)
        if os.path.isdir(rejected) and _is_staging(rejected):
            shutil.rmtree(rejected)             # an earlier failed attempt: superseded
        if not os.path.lexists(self.real):
            os.rename(staging, self.real)
            return
        kind = "project" if _is_project(self.real) else "foreign"
        old = LAYOUT.old(self.real, os.getpid())
        if _exchange(staging, self.real):
            _write(os.path.join(staging, LAYOUT.old_marker), kind)     # staging now holds the old tree
            os.rename(staging, old)
        else:   # no RENAME_EXCHANGE: a kill between these two renames is undone by recover()
            os.rename(self.real, old)
            _write(os.path.join(old, LAYOUT.old_marker), kind)
            os.rename(staging, self.real)
        try:
            _dispose(old, self.real, self.log)
        except OSError as e:    # the new project is in place; the next compile retries (recover)
            self.log(f"equihls: warning: could not remove the previous tree {old}: {e.strerror or e}")


@contextlib.contextmanager
def scope():
    """Close (unlock) every Output opened by open_output() inside this block, however it ends."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    mark = len(stack)
    try:
        yield
    finally:
        while len(stack) > mark:
            stack.pop().close()


def releases_outputs(fn):
    """Decorator: run fn inside scope(), so the output lock it takes is released when it returns or
    raises; an OSError on DIR or its DIR.* siblings (staging, rejected; full or read-only disk)
    becomes an EquihlsError naming the path."""
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        with scope():
            mark = len(_local.stack)
            try:
                return fn(*a, **kw)
            except OSError as e:
                name = os.fsdecode(e.filename) if e.filename else ""
                if name and any(os.path.realpath(name).startswith(o.real)
                                for o in _local.stack[mark:]):
                    raise EquihlsError(f"{name}: cannot write the project: {e.strerror or e}") from None
                raise
    return wrapper


def open_output(out_dir: str, force: bool = False, log=print) -> Output:
    """Check DIR (check_target) and lock it; released at the end of the enclosing scope()."""
    check_target(out_dir, force)
    out = Output(out_dir, force, log)
    out.lock()
    stack = getattr(_local, "stack", None)
    if stack is not None:
        stack.append(out)
    return out


def lock_path(real: str) -> str:
    """'.<name>.equihls-lock' beside DIR (outside it, so it is never part of the project)."""
    return LAYOUT.lock(real)


def _write(path: str, text: str):
    with open(path, "w") as f:
        f.write(text + "\n")


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode().strip() or "unknown"
    except OSError:
        return "unknown"


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EXDEV, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), b)


def _ours(name: str, new_entries: set) -> bool:
    """Entries equihls writes into a project (anything else in an old tree is the user's)."""
    return name in new_entries or name.startswith(LAYOUT.prefix) or name in LAYOUT.later_files


def _dispose(old: str, new: str, log=print):
    """Dispose of the previous tree 'DIR.old.<pid>' after the swap (idempotent, so recover() can rerun it).

    An old project loses the entries equihls wrote (equihls.json last); entries the user added are
    moved into the new project. An old foreign (--force) directory loses nothing: entries whose
    names the project does not use move into it, and if any collided the rest stays in
    'DIR.before-equihls'."""
    marker = os.path.join(old, LAYOUT.old_marker)
    try:
        with open(marker) as f:
            kind = f.read().strip()
    except OSError:
        kind = "project" if _is_project(old) else "foreign"
    new_entries = set(os.listdir(new))
    moved, kept = [], []
    for name in sorted(os.listdir(old), key=lambda n: n == LAYOUT.manifest):   # the manifest last
        if name == LAYOUT.old_marker:
            continue
        src = os.path.join(old, name)
        if kind == "project" and _ours(name, new_entries):
            if os.path.isdir(src) and not os.path.islink(src):
                shutil.rmtree(src)
            else:
                os.unlink(src)
        elif name not in new_entries:
            os.rename(src, os.path.join(new, name))
            moved.append(name)
        else:
            kept.append(name)
    if moved:
        log(f"equihls: kept {len(moved)} entr{'y' if len(moved) == 1 else 'ies'} of the previous {new} that equihls "
            f"did not write: {', '.join(moved)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(marker)
    if kept:
        dest = new + ".before-equihls"
        if os.path.lexists(dest):
            dest = f"{dest}.{os.getpid()}"
        os.rename(old, dest)
        log(f"equihls: previous entries of {new} named like project files were kept in {dest}: {', '.join(kept)}")
        return
    os.rmdir(old)


# 'DIR.partial.<pid>' / 'DIR.old.<pid>': group 1 is the kind, "partial" or "old"
_LEFTOVER = re.compile(rf"\.({re.escape(LAYOUT.partial_suffix[1:])}|{re.escape(LAYOUT.old_suffix[1:])})\.(\d+)$")


def _leftovers(real: str) -> list[tuple[str, str]]:
    """(kind, path) of 'DIR.partial.<pid>' / 'DIR.old.<pid>' siblings of DIR."""
    parent, base = os.path.dirname(real), os.path.basename(real)
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    out = []
    for n in sorted(names):
        m = _LEFTOVER.search(n)
        if m and n[:m.start()] == base and os.path.isdir(os.path.join(parent, n)):
            out.append((m.group(1), os.path.join(parent, n)))
    return out


def _is_staging(path: str) -> bool:
    """A staging/rejected tree equihls made (carries the marker)."""
    return os.path.isfile(os.path.join(path, LAYOUT.staging_marker))


def recover(out_dir: str, log=print, locked: bool = False) -> bool:
    """Finish or undo what a killed compile left beside DIR; True if DIR was restored.

    Marked 'DIR.partial.<pid>' trees (unfinished builds) are removed. An unmarked one (a passed
    build whose install a kill interrupted, or the old tree just after the exchange) and
    'DIR.old.<pid>' are, while DIR is missing, renamed back to DIR if they are a project, and
    otherwise disposed of into DIR (_dispose: only equihls' own entries are removed). Without
    locked, the DIR lock is taken first and nothing is done if a compile holds it."""
    real, _, _ = _paths(out_dir)
    todo = _leftovers(real)
    if not todo:
        return False
    if not locked:
        try:
            fd = os.open(lock_path(real), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        try:
            return recover(out_dir, log, locked=True)
        finally:
            os.close(fd)
    restored = False
    for kind, path in todo:
        if kind == "partial" and os.path.isfile(os.path.join(path, LAYOUT.staging_marker)):
            shutil.rmtree(path)                 # an unfinished build
        elif not os.path.lexists(real):
            if not _is_project(path):
                continue                        # not a project: leave it alone
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(path, LAYOUT.old_marker))
            os.rename(path, real)
            restored = True
            log(f"equihls: restored the project {real} (a compile was killed while installing it)")
        else:   # an old tree, or one that a kill left right after the exchange
            _dispose(path, real, log)
    return restored


def reject(staging: str, out_dir: str, report_name: str, report: dict) -> str:
    """Keep a failed build as 'DIR.rejected' (replacing an earlier one equihls made) with the report
    that failed it; returns the path as the user wrote DIR."""
    real, _, _ = _paths(out_dir)
    dest = LAYOUT.rejected(real)
    if os.path.isdir(dest) and _is_staging(dest):
        shutil.rmtree(dest)
    elif os.path.lexists(dest):
        dest = f"{dest}.{os.getpid()}"      # not ours: never removed
    os.rename(staging, dest)
    with open(os.path.join(dest, LAYOUT.staging_marker), "w") as f:
        f.write("rejected\n")
    with open(os.path.join(dest, report_name), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    return rejected_path(out_dir) if dest == LAYOUT.rejected(real) else dest


def fix_hls4ml_files(staging: str, out_dir: str):
    """Make hls4ml's files depend only on the model, options and DIR (byte-identical projects).

    hls4ml_config.yml records OutputDir (the staging path) and InputData/OutputPredictions (the
    temporary .npy files it read the testbench from): point them at DIR and at the project's own
    tb_data/*.dat, which hold the same events. hls4ml's random 'Stamp' (in the yml and in
    build_lib.sh, naming hls4ml's own C-sim library, which equihls does not build) becomes a hash
    of the rest of the yml."""
    path = os.path.join(staging, "hls4ml_config.yml")
    if not os.path.exists(path):
        return
    values = {"OutputDir": _paths(out_dir)[0], "InputData": LAYOUT.tb_input, "OutputPredictions": LAYOUT.tb_output}
    with open(path) as f:
        lines = f.read().split("\n")
    for k, line in enumerate(lines):
        key = line.partition(":")[0]
        if key in values and not line.startswith(" "):
            lines[k] = f"{key}: {json.dumps(values[key])}"
    # the yml may quote the random stamp (an all-digit one): match lines, not values
    rest = "\n".join(l for l in lines if not l.startswith("Stamp:")).encode()
    stamp = hashlib.sha256(rest).hexdigest()[:8]
    lines = [f'Stamp: "{stamp}"' if l.startswith("Stamp:") else l for l in lines]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    _replace_lines(os.path.join(staging, "build_lib.sh"), "LIB_STAMP=", f"LIB_STAMP={stamp}")


def _replace_lines(path: str, prefix: str, new: str):
    """Replace the lines starting with prefix in a text file, keeping its mode (build_lib.sh is executable)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = f.read().split("\n")
    with open(path, "w") as f:
        f.write("\n".join(new if l.startswith(prefix) else l for l in lines))
