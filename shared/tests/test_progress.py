import io
import threading

from azaion_shared.progress import progress, working


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_line_every_few_seconds_and_one_at_the_end():
    stream, clock = io.StringIO(), Clock()
    seen = []
    for i in progress(range(10), "synth", "scene", stream=stream, every=5, clock=clock):
        seen.append(i)
        clock.now += 2  # each item takes 2 s: a line after the 3rd, 6th and 8th (>= 5 s apart)
    assert seen == list(range(10))
    lines = stream.getvalue().splitlines()
    assert lines[:-1] == ["synth: 3/10 scenes (0.5/s)", "synth: 6/10 scenes (0.5/s)", "synth: 9/10 scenes (0.5/s)"]
    assert lines[-1] == "synth: 10 scenes in 20.0 s"
    assert "\r" not in stream.getvalue()  # no bar redrawn into a file


def test_on_a_terminal_a_bar():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    assert list(progress(range(3), "synth", "scene", stream=stream)) == [0, 1, 2]
    assert "3/3" in stream.getvalue() and "\r" in stream.getvalue()  # tqdm's bar


def test_working_says_it_is_still_at_it_and_how_long_it_took():
    stream, release = io.StringIO(), threading.Event()
    with working("export onnx", stream=stream, every=0.01):
        while stream.getvalue().count("still working") < 2:
            release.wait(0.01)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("export onnx: still working (")
    assert lines[-1].startswith("export onnx: done in ")
