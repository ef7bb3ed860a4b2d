"""segkit.bench.module_cost: one row per part, columns that add up to the whole model."""
from __future__ import annotations

import math

import pytest

from segkit._utils import count_params
from segkit.bench import count_flops, module_cost
from segkit.bench.module_cost import OTHER, TOTAL
from segkit.models import build_model
from segkit.modules.ggca import GGCAFused
from segkit.report.module_cost import plot_module_cost

SIZE = 64
FINAL, BASELINE = "sff-wadeeplab", "deeplabv3plus-mobilenetv2"


@pytest.fixture(scope="module")
def models():
    return {name: build_model(name, num_classes=3) for name in (FINAL, BASELINE)}


@pytest.fixture(scope="module")
def costs(models):
    return {name: module_cost(m, (SIZE, SIZE), runs=1) for name, m in models.items()}


def _parts(df):
    return df[df["part"] != TOTAL]


def test_parts_present_and_absent(costs):
    assert list(costs[FINAL]["part"]) == ["backbone", "GGCA", "SFF", "ASPP", "decoder", OTHER, TOTAL]
    assert list(costs[BASELINE]["part"]) == ["backbone", "ASPP", "decoder", OTHER, TOTAL]


def test_ggca_rows_count_the_modules(models, costs):
    row = costs[FINAL].set_index("part").loc["GGCA"]
    assert row["modules"] == sum(isinstance(m, GGCAFused) for m in models[FINAL].modules())
    assert row["GFLOPs"] > 0 and row["params"] > 0


@pytest.mark.parametrize("name", [FINAL, BASELINE])
def test_params_sum_to_the_model(models, costs, name):
    df = costs[name]
    total = count_params(models[name], trainable_only=False)
    assert _parts(df)["params"].sum() == total
    assert df.set_index("part").loc[TOTAL, "params"] == total
    assert df.set_index("part").loc[OTHER, "params"] == 0


@pytest.mark.parametrize("name", [FINAL, BASELINE])
def test_flops_sum_to_the_model(models, costs, name):
    df = costs[name]
    whole = count_flops(models[name], (1, 3, SIZE, SIZE), device="cpu")[0] / 1e9
    assert math.isclose(_parts(df)["GFLOPs"].sum(), whole, rel_tol=1e-9)
    assert math.isclose(df.set_index("part").loc[TOTAL, "GFLOPs"], whole, rel_tol=1e-9)
    # every conv and matmul runs inside a part: the hooks saw the whole forward
    assert df.set_index("part").loc[OTHER, "GFLOPs"] == 0


@pytest.mark.parametrize("name", [FINAL, BASELINE])
def test_shares_sum_to_100(costs, name):
    parts = _parts(costs[name])
    for col in ("params(%)", "FLOPs(%)", "latency(%)"):
        assert math.isclose(parts[col].sum(), 100.0, rel_tol=1e-9), col
    assert (parts["latency(ms)"] >= 0).all()


def test_latency_parts_add_up_to_the_forward(costs):
    """One timed pass: the parts' times (other included) are that pass's forward, split."""
    df = costs[FINAL].set_index("part")
    assert math.isclose(df.drop(TOTAL)["latency(ms)"].sum(), df.loc[TOTAL, "latency(ms)"], rel_tol=1e-6)


def test_model_left_as_found(models):
    model = models[FINAL].train()
    module_cost(model, SIZE, runs=1, warmup=0)
    assert model.training
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_attention_outside_the_backbone_is_not_ggca():
    """MSA_ASPP's gates and SFF's CBAM are registered modules too; only the backbone's form a row."""
    df = module_cost(build_model("deeplabv3plus-mobilenetv2-sff2-msa-aspp", num_classes=3), SIZE, runs=1)
    assert list(df["part"]) == ["backbone", "SFF", "ASPP", "decoder", OTHER, TOTAL]


def test_bad_runs():
    with pytest.raises(ValueError, match="runs"):
        module_cost(build_model(BASELINE, num_classes=3), SIZE, runs=0)


def test_other_attention_is_named_by_its_registry_entry():
    df = module_cost(build_model("deeplabv3plus", num_classes=3, attn="se"), SIZE, runs=1)
    assert list(df["part"])[:2] == ["backbone", "SE"]


def test_plot(costs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plot_module_cost(costs[FINAL], title=FINAL)
    left, right = fig.axes[:2]
    assert len(left.patches) == len(right.patches) == len(_parts(costs[FINAL]))
    plt.close(fig)
