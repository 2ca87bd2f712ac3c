"""Checks of the Qt binding the app runs on.

PySide6 6.12.0 on Python < 3.12 returns borrowed references to ``None``/``True`` from
many calls (every ``Signal.emit()``, void methods such as ``QTimer.start``, much of
pyqtgraph's drawing), so the interpreter aborts after a few hundred UI updates with
"Fatal Python error: none_dealloc" (Python 3.12+ makes those objects immortal, which
hides the bug). 6.11.3 is fine. The probe measures the bug instead of trusting versions.
"""
from __future__ import annotations

import sys

ADVICE = 'install a PySide6 without the bug: pip install "PySide6-Essentials<6.12" "shiboken6<6.12"'


def refcount_bug() -> bool:
    """True when calls through this PySide6 lose references to None/True."""
    from PySide6 import QtCore

    class _Probe(QtCore.QObject):
        sig = QtCore.Signal(int)

    probe = _Probe()
    timer = QtCore.QTimer()
    before = {id(o): sys.getrefcount(o) for o in (None, True)}
    for _ in range(4):
        probe.sig.emit(0)
        timer.setInterval(5)
    lost = {o: before[id(o)] - sys.getrefcount(o) for o in (None, True)}
    if any(n > 0 for n in lost.values()):
        import ctypes

        incref = ctypes.pythonapi.Py_IncRef
        incref.argtypes = [ctypes.py_object]
        incref.restype = None
        for obj, n in lost.items():  # give back what the probe took: it must not cause the crash
            for _ in range(max(n, 0)):
                incref(obj)
        return True
    return False


def binding_problem() -> str | None:
    """A message when the Qt binding cannot run the app, else None."""
    import PySide6

    if refcount_bug():
        return (f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} has a reference-counting bug "
                f"that crashes the app after a few seconds of use; {ADVICE}")
    return None
