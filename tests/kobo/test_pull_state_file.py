"""`JsonFilePullState` on disk: the file layout over many submissions, and how often it is written."""

from __future__ import annotations

import json
import os

from tipdata.kobo_forms.pull_state import MAX_WRITE_SHARE, JsonFilePullState, SeenSubmission


def test_json_file_pull_state__many_submissions_round_trip(tmp_path):
    """should write every submission of every asset as `"_id": [revision, digest]` and read it back"""
    path = tmp_path / "s.json"
    state = JsonFilePullState(path, flush_seconds=0)
    first = [SeenSubmission(i, f'r"{i}ü', f"d{i}") for i in range(1, 4_502)]
    state.remember("aOne", first, watermark=4_501)
    state.remember("aTwo", [SeenSubmission(7, "r7", "d7")], watermark=7)
    state.remember("aEmpty", [])
    state.flush()
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["assets"]["aOne"]["seen"]["4500"] == ['r"4500ü', "d4500"]
    assert len(written["assets"]["aOne"]["seen"]) == 4_501
    assert written["assets"]["aEmpty"]["seen"] == {}
    again = JsonFilePullState(path)
    assert again.watermark("aOne") == 4_501 and again.watermark("aTwo") == 7
    assert [again.seen("aOne", i) for i in range(1, 4_502)] == first
    assert again.seen("aTwo", 7) == SeenSubmission(7, "r7", "d7")


class Clock:
    """A monotonic clock the test sets."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_json_file_pull_state__slow_rewrites_are_spaced_out(tmp_path, monkeypatch):
    """should wait `1 / MAX_WRITE_SHARE` times the last write's duration before the next one"""
    clock = Clock()
    state = JsonFilePullState(tmp_path / "s.json", flush_seconds=5, clock=clock)
    writes: list[float] = []
    replace = os.replace

    def slow_replace(source, target):  # the last step of a rewrite, which "takes" 2 s
        writes.append(clock.now)
        clock.now += 2.0
        replace(source, target)

    monkeypatch.setattr(os, "replace", slow_replace)
    spacing = 2.0 / MAX_WRITE_SHARE
    for now in (6.0, 9.0, 8.0 + spacing - 1, 8.0 + spacing + 1):
        clock.now = now
        state.remember("aX", [SeenSubmission(int(now), "r", "d")], watermark=int(now))
        state.checkpoint()
    assert writes == [6.0, 8.0 + spacing + 1]
    state.remember("aX", [SeenSubmission(99, "r", "d")])
    state.flush()  # flush writes what is pending at once
    assert len(writes) == 3


def test_json_file_pull_state__zero_flush_seconds_writes_every_checkpoint(tmp_path):
    """should write at every checkpoint when flush_seconds is 0, however long writes take"""
    path = tmp_path / "s.json"
    state = JsonFilePullState(path, flush_seconds=0)
    for watermark in (1, 2, 3):
        state.remember("aX", [SeenSubmission(watermark, "r", "d")], watermark=watermark)
        state.checkpoint()
        assert JsonFilePullState(path).watermark("aX") == watermark
