"""The layering rules (README, "Layout"), checked: import-linter contracts in pyproject.toml."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 5 kept, 0 broken" in proc.stdout


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_qt_outside_gui_and_no_torch_outside_pose_and_trainer_even_lazily():
    """import-linter sees module-level graphs; this also catches imports inside functions."""
    qt = {"PySide6", "pyqtgraph", "OpenGL", "PyQt5", "PyQt6"}
    torch = {"torch", "torchvision", "timm", "safetensors"}
    for path in list((ROOT / "kneeview").rglob("*.py")) + list((ROOT / "trainer").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        found = _imports(path)
        if not rel.startswith("kneeview/gui/"):
            assert not found & qt, f"{rel} imports Qt: {found & qt}"
        if not rel.startswith(("kneeview/pose/", "trainer/", "kneeview/gui/")):
            assert not found & torch, f"{rel} imports torch: {found & torch}"


def test_the_session_layer_loads_neither_qt_nor_torch():
    """The session layer is imported by the CLI and batch scripts: no Qt, no torch until a
    model is actually loaded."""
    code = ("import sys, kneeview.session, kneeview.session.cli; "
            "print(sorted(m for m in ('torch', 'PySide6', 'pyqtgraph', 'onnxruntime') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_bundled_files_go_into_the_wheel(tmp_path):
    """A non-editable install must find resources/: build the wheel and look inside."""
    import zipfile

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("kneeview-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"kneeview/resources/{p.relative_to(ROOT / 'resources').as_posix()}"
                for p in (ROOT / "resources").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert expected and expected <= names, sorted(expected - names)
    assert "trainer/__init__.py" in names and "kneeview/camera/xcp.py" in names

