"""vlmroute.ray: the Ray Data stage called on batches directly (fast, no Ray), and on a local
Ray instance, two actors sharing one account's cap through Redis."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import vlmroute
from vlmroute.ray import INSTALL_HINT, RESULT_COLUMNS, VlmrouteStage, route_dataset
from vlmroute.testing import FakeProvider, redis_server

KEY = "sk-ray-test-key-0123456789"
HELLO = [{"role": "user", "content": "Describe the image."}]
CAP = 4


def body(i: int, **extra: Any) -> dict[str, Any]:
    text = f"describe picture {i}"
    return {"model": "glm-4.1v-thinking", "messages": [{"role": "user", "content": text}], **extra}


def config_for(fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "offers": [{"offer": "zhipu-flash", "base_url": fake.base_url, "cap": CAP}],
        "ledger": False,
        **extra,
    }


def require_ray() -> ModuleType:
    """Ray and Ray Data, or a skip; in CI (``CI`` set) a missing Ray fails instead."""
    try:
        import ray
        import ray.data
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and ray is not installed: {INSTALL_HINT}")
        pytest.skip(f"ray is not installed: {INSTALL_HINT}")
    return ray


# ---------------------------------------------------------------------- without Ray


def test_a_batch_is_answered_in_place_rows_concurrently_and_failures_are_rows() -> None:
    good = [json.dumps(body(i)) for i in range(12)]
    batch: dict[str, list[Any]] = {
        "custom_id": [f"r{i}" for i in range(12)] + ["not-json", "stream", "struct", "empty"],
        "body": [
            *good,
            "{not json",
            json.dumps(body(0, stream=True)),
            # What Arrow makes of an object column: nulls for absent keys, floats for ints.
            {**body(99), "max_tokens": 64.0, "temperature": None},
            None,
        ],
        "keep": list(range(16)),
    }
    with FakeProvider("zhipu", latency_s=0.1, cap=CAP) as fake:
        stage = VlmrouteStage(config_for(fake), api_keys={"zhipu": KEY})
        try:
            assert KEY not in repr(stage)
            assert stage.max_in_flight == CAP  # the sum of the router's caps
            out = stage(batch)
        finally:
            stage.close()
        stats = fake.stats
        sent = [r.json for r in fake.requests]
    assert list(out) == ["custom_id", "body", "keep", *RESULT_COLUMNS]
    assert out["keep"] == list(range(16))
    assert stats.peak_in_flight == CAP  # the batch's rows went at once, up to the cap
    assert stats.rejected == 0
    rows = [{name: out[name][i] for name in out} for i in range(16)]
    for row in rows[:12] + rows[14:15]:
        assert row["status_code"] == 200, row
        assert row["error"] is None
        assert row["answer"]
        assert row["offer"] == "zhipu-flash"
        assert row["cost"] == "0 CNY"  # Flash is free
        completion = json.loads(row["response"])
        assert completion["object"] == "chat.completion"
        assert completion["choices"][0]["message"]["content"] == row["answer"]
        assert row["request_id"] == completion["id"]
    assert [r["status_code"] for r in rows[12:14] + rows[15:]] == [400, 400, 400]
    assert rows[12]["error"] == "invalid_request: the body is not JSON"
    assert '"stream": true' in rows[13]["error"]
    assert rows[15]["error"] == "invalid_request: the row has no body"
    assert all(r["answer"] is None and r["response"] is None for r in rows[12:14] + rows[15:])
    assert len(sent) == 13  # the refused rows were never sent
    struct = next(s for s in sent if "picture 99" in json.dumps(s))
    assert struct["max_tokens"] == 64
    assert "temperature" not in struct
    assert KEY not in json.dumps(out, default=str)


def test_an_error_from_the_router_is_a_row_not_an_exception() -> None:
    with FakeProvider("zhipu", latency_s=0.0, cap=CAP) as fake:
        stage = VlmrouteStage(config_for(fake, retry={"attempts": 1}), api_keys={"zhipu": KEY})
        try:
            fake.kill()  # every connection refused
            out = stage({"body": [json.dumps(body(1))], "custom_id": ["gone"]})
        finally:
            stage.close()
    assert out["status_code"][0] >= 500
    assert out["error"][0].startswith(("connection_error: ", "no_route: "))
    assert out["answer"][0] is None


def test_a_row_gets_the_answer_a_vlmroute_run_line_gets(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [{"custom_id": f"r{i}", "body": body(i, max_tokens=50)} for i in range(3)]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with FakeProvider("zhipu", latency_s=0.0) as fake:
        config = config_for(fake)
        with vlmroute.Router.from_config(config, api_keys={"zhipu": KEY}) as router:
            vlmroute.run_batch(source, tmp_path / "out.jsonl", router=router)
        stage = VlmrouteStage(config, api_keys={"zhipu": KEY})
        try:
            out = stage(
                {
                    "custom_id": [line["custom_id"] for line in lines],
                    "body": [json.dumps(line["body"]) for line in lines],
                }
            )
        finally:
            stage.close()
        sent = [r.json for r in fake.requests]
    assert sent[:3] == sent[3:]  # the provider saw the same requests
    run = {}
    for text in (tmp_path / "out.jsonl").read_text().splitlines():
        result = json.loads(text)
        run[result["custom_id"]] = result["response"]["body"]
    for custom_id, response in zip(out["custom_id"], out["response"], strict=True):
        assert _stable(json.loads(response)) == _stable(run[custom_id])


def _stable(completion: dict[str, Any]) -> dict[str, Any]:
    """A completion without what differs between two sends of one request."""
    routing = completion["vlmroute"]
    return {
        "model": completion["model"],
        "choices": completion["choices"],
        "usage": completion["usage"],
        "offer": routing["offer"],
        "cost": routing["cost"],
    }


def test_pandas_and_pyarrow_batches_come_back_in_their_format() -> None:
    pd: Any = pytest.importorskip("pandas")
    pa: Any = pytest.importorskip("pyarrow")
    rows = {"id": ["a", "b"], "request": [json.dumps(body(1)), "[]"]}
    with FakeProvider("zhipu", latency_s=0.0) as fake:
        keys = {"zhipu": KEY}
        stage = VlmrouteStage(
            config_for(fake), api_keys=keys, body_column="request", id_column="id"
        )
        try:
            frame = stage(pd.DataFrame(rows, index=[10, 20]))
            table = stage(pa.table(rows))
        finally:
            stage.close()
        sent = len(fake.requests)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [10, 20]
    assert frame["status_code"].tolist() == [200, 400]
    assert frame["answer"].iloc[0]
    assert pd.isna(frame["answer"].iloc[1])
    assert "a JSON list, not an object" in frame["error"].iloc[1]
    assert isinstance(table, pa.Table)
    assert table.column_names == ["id", "request", *RESULT_COLUMNS]
    assert table.schema.field("answer").type == pa.string()
    assert table.column("status_code").to_pylist() == [200, 400]
    assert sent == 2  # one a batch: the list was refused before sending


def test_a_batch_without_the_body_column_names_the_columns_it_has() -> None:
    with FakeProvider("zhipu") as fake:
        stage = VlmrouteStage(config_for(fake), api_keys={"zhipu": KEY})
        try:
            with pytest.raises(KeyError, match=r"no 'body' column.*prompt"):
                stage({"prompt": ["hi"]})
        finally:
            stage.close()


def test_importing_vlmroute_ray_does_not_import_ray() -> None:
    check = "import sys, vlmroute.ray; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_route_dataset_without_ray_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ImportError, match=r"pip install 'vlmroute\[ray\]'"):
        route_dataset(object(), {"offers": [{"offer": "zhipu-flash"}]})  # type: ignore[arg-type]


class _Recorder:
    """A stand-in Dataset: what map_batches was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def map_batches(self, fn: Any, **kwargs: Any) -> _Recorder:
        self.calls.append((fn, kwargs))
        return self


def test_route_dataset_reads_the_config_on_the_driver_and_warns_without_a_store(
    tmp_path: Path,
) -> None:
    ray = require_ray()
    path = tmp_path / "router.yaml"
    path.write_text("offers: [{offer: zhipu-flash, cap: 3}]\nledger: false\n")
    dataset = _Recorder()
    with pytest.warns(UserWarning, match="2 actors and no store"):
        route_dataset(dataset, path, actors=2, batch_size=8, num_cpus=0.25)  # type: ignore[arg-type]
    [(fn, kwargs)] = dataset.calls
    assert fn is VlmrouteStage
    assert isinstance(kwargs["fn_constructor_kwargs"]["config"], vlmroute.RouterConfig)
    assert isinstance(kwargs["compute"], ray.data.ActorPoolStrategy)
    assert (kwargs["batch_size"], kwargs["num_cpus"]) == (8, 0.25)


# ---------------------------------------------------------------------- on Ray

#: What Ray warns of in the driver whatever the caller does: a new DataContext sets its own
#: deprecated fields (use_push_based_shuffle, use_polars), each a DeprecationWarning.
ray_warnings = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def ray_local() -> Iterator[ModuleType]:
    """A local Ray instance for this module's tests; shut down (its processes too) after."""
    ray = require_ray()
    # The workers inherit the environment at init: the README's call reads its key from it.
    saved = os.environ.get("ZHIPUAI_API_KEY")
    os.environ["ZHIPUAI_API_KEY"] = KEY
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        object_store_memory=100 * 1024 * 1024,
    )
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("ZHIPUAI_API_KEY", None)
        else:
            os.environ["ZHIPUAI_API_KEY"] = saved


@pytest.mark.slow
@ray_warnings
@pytest.mark.skipif(
    shutil.which("redis-server") is None and not os.environ.get("CI"),
    reason="redis-server not installed (apt-get install redis-server)",
)
def test_two_ray_actors_share_the_account_s_cap_through_redis(ray_local: ModuleType) -> None:
    ray = ray_local
    count = 300
    items = [{"custom_id": f"r{i}", "body": json.dumps(body(i))} for i in range(count)]
    with redis_server() as store, FakeProvider("zhipu", latency_s=0.02, cap=CAP) as fake:
        config = config_for(fake, store={"url": store.url, "workers": 2})
        answered = ray.data.from_items(items).map_batches(
            VlmrouteStage,
            fn_constructor_kwargs={"config": config, "api_keys": {"zhipu": KEY}},
            compute=ray.data.ActorPoolStrategy(size=2),
            batch_size=25,
            num_cpus=0.5,
        )
        rows = answered.take_all()
        stats = fake.stats
    assert stats.peak_in_flight <= CAP  # the account's cap, across both actors
    assert stats.peak_in_flight > 1  # and each actor sent its rows at once
    assert stats.rejected == 0  # no 429
    assert stats.served == count
    assert sorted(r["custom_id"] for r in rows) == sorted(i["custom_id"] for i in items)
    assert all(r["status_code"] == 200 and r["error"] is None for r in rows)
    assert all(r["answer"] for r in rows)
    assert all(KEY not in json.dumps(r, default=str) for r in rows)


@pytest.mark.slow
@ray_warnings
def test_route_dataset_reads_a_yaml_config_on_the_driver(
    ray_local: ModuleType, tmp_path: Path
) -> None:
    ray = ray_local
    # Bodies as objects, not JSON strings: Arrow makes them structs, numpy arrays inside.
    items: list[dict[str, Any]] = [{"custom_id": f"r{i}", "body": body(i)} for i in range(20)]
    with FakeProvider("zhipu", latency_s=0.0, cap=CAP) as fake:
        path = tmp_path / "router.yaml"
        path.write_text(json.dumps(config_for(fake)))  # JSON is YAML
        dataset = route_dataset(
            ray.data.from_items(items), path, api_keys={"zhipu": KEY}, batch_size=10, num_cpus=0.5
        )
        rows = dataset.take_all()
    assert sorted(r["custom_id"] for r in rows) == sorted(i["custom_id"] for i in items)
    assert all(r["status_code"] == 200 and r["answer"] for r in rows)


@pytest.mark.slow
@ray_warnings
def test_the_readme_s_ray_snippet_runs(
    ray_local: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n# library: ray\n(.*?)```", readme, re.S)
    assert snippet is not None
    with redis_server() as store, FakeProvider("zhipu", cap=CAP) as fake:
        with (tmp_path / "requests.jsonl").open("w") as out:
            for i in range(12):
                line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
                out.write(json.dumps({**line, "body": body(i)}) + "\n")
        config = {**config_for(fake), "store": {"url": store.url, "workers": 2}}
        (tmp_path / "router.yaml").write_text(json.dumps(config))  # JSON is YAML
        monkeypatch.chdir(tmp_path)
        exec(compile(snippet.group(1), "README.md", "exec"), {})
        assert fake.stats.served >= 1
