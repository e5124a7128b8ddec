"""Adaptive batching in the data plane: concurrent requests share predict calls, errors stay per request."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from neuroscale.errors import InvalidInput, NotReady
from neuroscale.batching import Batcher
from neuroscale.serving.dataplane import BatchSettings, DataPlane
from neuroscale.serving.formats import tabular
from neuroscale.serving.loaders import load
from neuroscale.serving.model import FunctionModel, PredictionFailed, TensorSpec
from neuroscale.serving.tensors import InferRequest, Tensor
from tests.conftest import IRIS_ROWS


def rows_request(rows: Any, *, request_id: str | None = None) -> InferRequest:
    return InferRequest(inputs=(Tensor("input-0", "FP64", np.asarray(rows, dtype=np.float64)),), id=request_id)


class CountingModel:
    """Wraps a real predict function and records the row count of every call it gets."""

    def __init__(self, predict: Any, *, width: int = 4, sleep: float = 0.0, releases_gil: bool = False) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self._predict = predict
        self._sleep = sleep
        self.model = FunctionModel(framework="test", kind="counting", source="memory",
                                   inputs=(TensorSpec("input-0", "FP64", [-1, width]),),
                                   outputs=(TensorSpec("output-0", "FP64", [-1]),), run=self._run,
                                   releases_gil=releases_gil)

    def _run(self, inputs: Any) -> dict[str, np.ndarray]:
        rows = inputs["input-0"]
        self.calls.append(len(rows))
        self.threads.add(threading.current_thread().name)
        if self._sleep:
            time.sleep(self._sleep)
        return {"output-0": np.asarray(self._predict(rows))}


def _gather(plane: DataPlane, requests: list[InferRequest]) -> list[Any]:
    async def go() -> list[Any]:
        return await asyncio.gather(*(plane.infer(r) for r in requests), return_exceptions=True)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def iris(iris_model: Path) -> Any:
    return load(iris_model, model_format="sklearn")


def test_concurrent_requests_share_one_predict_call_and_get_their_own_rows(iris: Any) -> None:
    counting = CountingModel(iris.predict)  # holds the GIL: predicts on the event loop
    plane = DataPlane(model=counting.model, name="iris", batching=BatchSettings(max_batch_size=64))
    rows = np.asarray(IRIS_ROWS * 20)  # 40 different rows, one or two per request
    requests = [rows_request(rows[i:i + 1 + i % 2], request_id=str(i)) for i in range(0, 40, 2)]
    answers = _gather(plane, requests)
    assert counting.calls == [sum(len(r.inputs[0].data) for r in requests)]  # one call for all of them
    assert counting.threads == {"MainThread"}
    for request, answer in zip(requests, answers, strict=True):
        assert answer.id == request.id
        assert answer.outputs[0].data.tolist() == iris.predict(request.inputs[0].data).tolist()


def test_batches_hold_at_most_max_batch_size_rows_and_a_large_request_runs_alone(iris: Any) -> None:
    counting = CountingModel(iris.predict)
    plane = DataPlane(model=counting.model, name="iris", batching=BatchSettings(max_batch_size=4))
    requests = [rows_request(IRIS_ROWS) for _ in range(5)] + [rows_request(IRIS_ROWS * 5)]
    answers = _gather(plane, requests)
    assert counting.calls == [4, 4, 2, 10]
    assert [len(a.outputs[0].data) for a in answers] == [2, 2, 2, 2, 2, 10]


def test_a_member_with_the_wrong_shape_fails_alone(iris: Any) -> None:
    counting = CountingModel(iris.predict)
    plane = DataPlane(model=counting.model, name="iris", batching=BatchSettings(max_batch_size=32))
    requests = [rows_request(IRIS_ROWS), rows_request([[1.0, 2.0, 3.0]]), rows_request(IRIS_ROWS)]
    good, bad, also_good = _gather(plane, requests)
    assert isinstance(bad, InvalidInput) and "expects 4 features per row, got 3" in bad.message
    assert good.outputs[0].data.tolist() == also_good.outputs[0].data.tolist() == [1, 1]
    assert counting.calls == [4]  # the bad member never reached the model


def test_members_of_different_widths_are_predicted_in_separate_groups() -> None:
    counting = CountingModel(lambda rows: rows.sum(axis=1), width=-1)  # a model that takes any width
    plane = DataPlane(model=counting.model, name="sum", batching=BatchSettings(max_batch_size=32))
    answers = _gather(plane, [rows_request([[1.0, 2.0]]), rows_request([[1.0, 2.0, 3.0]]), rows_request([[5.0, 5.0]])])
    assert [a.outputs[0].data.tolist() for a in answers] == [[3.0], [6.0], [10.0]]
    assert sorted(counting.calls) == [1, 2]


def test_a_model_that_fails_on_one_member_fails_only_that_member() -> None:
    def refuse_negative(rows: np.ndarray) -> np.ndarray:
        if (rows < 0).any():
            raise ValueError("negative values are not allowed")
        return rows.sum(axis=1)

    counting = CountingModel(refuse_negative, width=2)
    plane = DataPlane(model=counting.model, name="m", batching=BatchSettings(max_batch_size=32))
    answers = _gather(plane, [rows_request([[1.0, 1.0]]), rows_request([[-1.0, 1.0]]), rows_request([[2.0, 2.0]])])
    assert answers[0].outputs[0].data.tolist() == [2.0] and answers[2].outputs[0].data.tolist() == [4.0]
    assert isinstance(answers[1], InvalidInput) and "negative values are not allowed" in answers[1].message
    assert counting.calls == [3, 1, 1, 1]  # the joint call failed, so each member was retried alone


def test_a_crash_inside_the_model_is_a_prediction_failure_for_that_member_only() -> None:
    def crash_on_seven(rows: np.ndarray) -> np.ndarray:
        if (rows == 7).any():
            raise RuntimeError("boom")
        return rows[:, 0]

    plane = DataPlane(model=CountingModel(crash_on_seven, width=1).model, name="m",
                      batching=BatchSettings(max_batch_size=32))
    ok, crashed = _gather(plane, [rows_request([[1.0]]), rows_request([[7.0]])])
    assert ok.outputs[0].data.tolist() == [1.0]
    assert isinstance(crashed, PredictionFailed) and crashed.http_status == 500 and "boom" in crashed.message


def test_models_that_release_the_gil_predict_off_the_event_loop(iris: Any) -> None:
    counting = CountingModel(iris.predict, sleep=0.005, releases_gil=True)
    plane = DataPlane(model=counting.model, name="iris", batching=BatchSettings(max_batch_size=8))

    async def go() -> list[Any]:
        first = await asyncio.gather(*(plane.infer(rows_request(IRIS_ROWS)) for _ in range(2)))
        second = await asyncio.gather(*(plane.infer(rows_request(IRIS_ROWS)) for _ in range(12)))
        return [*first, *second]

    answers = asyncio.run(go())
    assert all(a.outputs[0].data.tolist() == [1, 1] for a in answers)
    assert counting.threads == {"batch-predict_0"}
    assert max(counting.calls) <= 8 and sum(counting.calls) == 28
    assert len(counting.calls) < 14  # requests queued while a batch predicted formed the next batches


def test_unload_answers_queued_members_and_refuses_new_ones(iris: Any) -> None:
    counting = CountingModel(iris.predict, sleep=0.005, releases_gil=True)
    plane = DataPlane(model=counting.model, name="iris", batching=BatchSettings(max_batch_size=2))
    assert plane.batcher is not None

    async def go() -> tuple[list[Any], Any]:
        queued = [asyncio.ensure_future(plane.infer(rows_request(IRIS_ROWS))) for _ in range(6)]
        await asyncio.sleep(0)  # they are in the queue now
        await plane.unload()
        late = await asyncio.gather(plane.infer(rows_request(IRIS_ROWS)), return_exceptions=True)
        return await asyncio.gather(*queued), late[0]

    answered, late = asyncio.run(go())
    assert [a.outputs[0].data.tolist() for a in answered] == [[1, 1]] * 6
    assert isinstance(late, NotReady) and "unloading" in late.message and late.http_status == 503


def test_batcher_without_requests_is_idle_and_closes_at_once() -> None:
    batcher: Batcher[int, int] = Batcher(lambda items: list(items), max_batch_size=4, max_latency=0.5)

    async def go() -> int:
        await batcher.close()
        with pytest.raises(NotReady):
            await batcher.submit(1, rows=1)
        return batcher.batches

    assert asyncio.run(go()) == 0


def test_tabular_model_without_batcher_predicts_inline(iris: Any) -> None:
    plane = DataPlane(model=tabular(iris), name="iris")
    assert plane.batcher is None
    assert [a.outputs[0].data.tolist() for a in _gather(plane, [rows_request(IRIS_ROWS)] * 3)] == [[1, 1]] * 3
