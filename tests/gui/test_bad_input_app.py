"""The bad-input matrix through the app (issue 18): ``MainWindow.open_path`` on each spoilt
copy of the demo shows one dialog naming the file and the problem, and the window stays
usable (the good demo opens next)."""
from __future__ import annotations

import pytest
from bad_inputs import BAD_FILES, copy_demo


def _criticals(dialogs):
    return [d for d in dialogs if d[0] in ("critical", "exec")]


@pytest.mark.parametrize("case", BAD_FILES, ids=lambda c: c.id)
def test_open_path_shows_one_dialog_and_the_window_stays_usable(make_window, dialogs, tmp_path, case):
    session = copy_demo(tmp_path / "session")
    named, problem = case.build(session)
    win = make_window(auto_run=False)
    opened = win.open_path(session)
    shown = _criticals(dialogs)
    assert len(shown) == 1, shown
    kind, title, text = shown[0]
    assert str(named) in text and problem in text, text
    if case.app_opens:  # the video opens without its ground truth
        assert opened and title == "Ground truth ignored" and win.state.recording is not None
    else:
        assert not opened and win.state.recording is None
    # still usable: the good demo opens in the same window, without another dialog
    good = copy_demo(tmp_path / "good")
    assert win.open_path(good)
    assert len(_criticals(dialogs)) == 1 and win.state.recording is not None
    assert win.state.recording.root == good
