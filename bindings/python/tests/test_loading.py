"""Finding the library, declarations against the header, versions."""

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys

import walstore
from conftest import HEADER
from walstore import _lib


def header_functions():
    text = HEADER.read_text()
    return set(re.findall(r"^[a-z_][\w ]*?\**\s*\**(wal_\w+)\(", text, re.M))


def test_every_header_function_is_declared_with_types():
    declared = set(_lib._SIGNATURES)
    in_header = header_functions()
    assert in_header - declared == set(), "declare these in bindings/python/walstore/_lib.py"
    # Declared but not in this header: only optional functions this library lacks.
    assert declared - in_header <= _lib.missing
    assert _lib.missing <= _lib.OPTIONAL
    for name in declared - _lib.missing:
        fn = getattr(_lib.lib, name)
        assert fn.argtypes is not None, name
        restype, argtypes = _lib._SIGNATURES[name]
        assert fn.restype is restype, name
        assert len(fn.argtypes) == len(argtypes), name


def test_status_results_are_declared_as_c_int():
    import ctypes

    text = HEADER.read_text()
    for name in re.findall(r"^wal_status (wal_\w+)\(", text, re.M):
        assert getattr(_lib.lib, name).restype is ctypes.c_int, name


def test_versions_match_the_header_and_the_package_metadata():
    text = HEADER.read_text()
    major, minor, patch = (int(re.search(rf"#define WAL_VERSION_{p} (\d+)", text).group(1)) for p in ("MAJOR", "MINOR", "PATCH"))
    string = re.search(r'#define WAL_VERSION_STRING "([^"]+)"', text).group(1)
    assert walstore.library_version_info() == (major, minor, patch)
    assert walstore.library_version() == string
    assert walstore.ABI_MAJOR == major
    assert walstore.__version__ == string
    assert importlib.metadata.version("walstore") == walstore.__version__


def test_walstore_lib_selects_the_library():
    assert os.environ["WALSTORE_LIB"], "the test target sets WALSTORE_LIB"
    assert walstore.LIBRARY_PATH == os.environ["WALSTORE_LIB"]


def run_python(code, env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


REPORT = (
    "import sys\n"
    "try:\n"
    "    import walstore\n"
    "    print('loaded', walstore.LIBRARY_PATH)\n"
    "except ImportError as e:\n"
    "    print(type(e).__name__, isinstance(e, ImportError), e)\n"
)


def test_a_bad_walstore_lib_fails_the_import_without_fallback(tmp_path):
    missing = str(tmp_path / "no-such-libwalstore.so")
    r = run_python(REPORT, dict(os.environ, WALSTORE_LIB=missing))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"LibraryNotFoundError True cannot load libwalstore from WALSTORE_LIB={missing!r}: ")


def test_a_library_that_is_not_walstore_is_refused():
    r = run_python(REPORT, dict(os.environ, WALSTORE_LIB="libc.so.6"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "LibraryNotFoundError True libc.so.6 is not a compatible libwalstore: it lacks wal_last_error\n"


def test_the_library_next_to_the_package_is_found(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(os.path.dirname(walstore.__file__), site / "walstore", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.environ["WALSTORE_LIB"], site / "walstore" / "libwalstore.so.0")
    env = {k: v for k, v in os.environ.items() if k not in ("WALSTORE_LIB", "PYTHONPATH")}
    code = (
        f"import sys; sys.path.insert(0, {str(site)!r})\n"
        "import walstore\n"
        "print(walstore.__file__)\n"
        "print(walstore.LIBRARY_PATH)\n"
        f"with walstore.Store({str(tmp_path / 'store')!r}) as s:\n"
        "    s.store(1, b'via the bundled library')\n"
        "    print(s.retrieve(1).decode())\n"
    )
    r = run_python(code, env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        str(site / "walstore" / "__init__.py"),
        str(site / "walstore" / "libwalstore.so.0"),
        "via the bundled library",
    ]
