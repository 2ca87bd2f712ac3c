"""The desktop application: PySide6 + pyqtgraph views over the KneeView library.

The only package that imports Qt. Views are thin: :class:`~kneeview.gui.state.SessionState`
holds the open recording, the pose estimate and the current frame; widgets observe it
through Qt signals. Long work (inference, hashing) runs in a worker thread.
Start it with :func:`kneeview.gui.app.run` (``kneeview``, ``kneeview --demo``, ``kneeview PATH``).
"""
