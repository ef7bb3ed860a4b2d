"""The training paragraph of a methods section, in English and Chinese, from a run's ``config.yaml``.

The recipe's facts come from :func:`segkit.training.recipe.recipe_of` (the learning rate as training
uses it: ``Init_lr`` scaled by batch / ``nbs`` and clamped to the optimiser's limits, the schedule's
warm-up and flat tail, the loss terms); the run's own record adds what only it knows: the learning
rates it logged, the device and precision it resolved, the images, the epochs it ran and their time.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from segkit._utils import counted

__all__ = ["run_record", "training_paragraphs"]


def run_record(run_dir: str | Path) -> dict[str, Any]:
    """``{"config", "history", "bench"}`` of a run folder (history None and bench {} when missing)."""
    from segkit.runs import RunDir

    rd = RunDir(run_dir)
    if not rd.config_path.is_file():
        raise FileNotFoundError(f"{rd.config_path} not found; is {str(run_dir)!r} a segkit run directory?")
    history = rd.read_history() if rd.history_path.is_file() else None
    return {"config": rd.read_config(), "history": history, "bench": rd.read_bench()}


def _g(x: float) -> str:
    """A rate as a paper writes it: 0.000875 -> 8.75e-4, 0.007 -> 0.007, 7.000000000000001e-05 -> 7e-5."""
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    mant, exp = f"{x:.3e}".split("e")
    return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"


_OPT = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}


def _init(cfg: Any) -> tuple[str, str]:
    """How the weights started, in both languages."""
    from segkit.report.tables import md_escape

    if cfg.pretrained:
        return f"from the weights {md_escape(cfg.pretrained)}", f"以 {md_escape(cfg.pretrained)} 的权重初始化"
    if cfg.model_path:
        return f"from the checkpoint {md_escape(cfg.model_path)}", f"以检查点 {md_escape(cfg.model_path)} 初始化"
    if cfg.init_type == "none":
        return "from scratch (PyTorch's default initialisation)", "从零开始训练（PyTorch 默认初始化）"
    return (f"from scratch ({cfg.init_type} initialisation, gain {cfg.init_gain:g})",
            f"从零开始训练（{cfg.init_type} 初始化，增益 {cfg.init_gain:g}）")


def _lr_sentences(r: Any, lr: float, final: float) -> tuple[str, str]:
    en = f"The learning rate training used was {_g(lr)}" + (f", decaying to {_g(final)}" if final != lr else "")
    zh = f"训练实际使用的学习率为 {_g(lr)}" + (f"，衰减至 {_g(final)}" if final != lr else "")
    if not r.lr_scaling:
        return en + f" (Init_lr and Min_lr as configured, without batch scaling).", zh + "（即配置值，未按批大小缩放）。"
    lo, hi = r.limits
    en += (f": the configured Init_lr {_g(r.init_lr)} was scaled by batch / nbs = {r.batch_size}/{r.nbs} to "
           f"{_g(r.scaled_lr)}")
    zh += f"：配置的 Init_lr {_g(r.init_lr)} 按批大小 / nbs = {r.batch_size}/{r.nbs} 缩放为 {_g(r.scaled_lr)}"
    if r.clamped:
        side_en = "above the upper" if r.scaled_lr > hi else "below the lower"
        side_zh = "高于上限" if r.scaled_lr > hi else "低于下限"
        limit = hi if r.scaled_lr > hi else lo
        en += (f", which lies {side_en} {_OPT[r.optimizer]} limit of [{_g(lo)}, {_g(hi)}], so the limit "
               f"{_g(limit)} replaced it")
        zh += f"，{side_zh}（{_OPT[r.optimizer]} 的范围为 [{_g(lo)}, {_g(hi)}]），因此实际取 {_g(limit)}"
    else:
        en += f", within the {_OPT[r.optimizer]} limits [{_g(lo)}, {_g(hi)}]"
        zh += f"，位于 {_OPT[r.optimizer]} 的范围 [{_g(lo)}, {_g(hi)}] 内"
    return en + f" (Min_lr {_g(r.min_lr)} likewise).", zh + f"（Min_lr {_g(r.min_lr)} 同样处理）。"


def _schedule(r: Any) -> tuple[str, str]:
    if r.final_lr == r.lr and r.schedule == "cos":  # Min_lr = Init_lr: the warm-up, then a constant rate
        start = (f"Training was limited to {r.time_limit:g} s (at most {r.epochs} epochs): the learning rate rose "
                 "linearly over the first 5 % of the steps that fit" if r.time_limit else
                 f"The learning rate rose over a {r.warmup:g}-epoch quadratic warm-up from "
                 f"{100 * r.warmup_lr_ratio:g} % of the peak" if r.warmup else
                 "The learning rate started at its peak (no warm-up)")
        start_zh = (f"训练限时 {r.time_limit:g} 秒（至多 {r.epochs} 轮）：学习率在可完成步数的前 5% 线性预热" if r.time_limit
                    else f"学习率先以二次曲线从峰值的 {100 * r.warmup_lr_ratio:g}% 预热 {r.warmup:g} 轮" if r.warmup
                    else "学习率从峰值开始（无预热）")
        return start + " and was then held constant (no decay).", start_zh + "，随后保持不变（不衰减）。"
    if r.time_limit:
        return (f"Training was limited to {r.time_limit:g} s: the learning rate rose linearly over the first 5 % of "
                f"the steps that fit and followed a cosine to the final rate (at most {r.epochs} epochs).",
                f"训练限时 {r.time_limit:g} 秒：学习率在可完成步数的前 5% 线性预热，随后按余弦衰减到最终值（至多 {r.epochs} 轮）。")
    if r.schedule == "cos":
        return (f"The schedule, set at the start of every epoch, is a {r.warmup:g}-epoch quadratic warm-up from "
                f"{100 * r.warmup_lr_ratio:g} % of the peak, a cosine decay, and the final rate held for the last "
                f"{r.flat:g} of {r.epochs} epochs.",
                f"学习率按轮更新：先以二次曲线从峰值的 {100 * r.warmup_lr_ratio:g}% 预热 {r.warmup:g} 轮，再余弦衰减，"
                f"最后 {r.flat:g} 轮保持最终学习率，共 {r.epochs} 轮。")
    return (f"The learning rate falls in 10 geometric steps over {r.epochs} epochs.",
            f"学习率在 {r.epochs} 轮内分 10 次按几何级数下降。")


def training_paragraphs(record: Mapping[str, Any] | str | Path) -> dict[str, str]:
    """The hyperparameter paragraph of one run, ``{"en": ..., "zh": ...}``.

    Args:
        record: a run folder, or :func:`run_record`'s dict (at least ``{"config": config.yaml's dict}``;
            a bare config.yaml dict works too).
    """
    from segkit.engine import TrainConfig
    from segkit.training.recipe import recipe_of
    from segkit.report.tables import md_escape

    rec = run_record(record) if isinstance(record, (str, Path)) else dict(record)
    if "config" not in rec:
        rec = {"config": rec}
    conf = rec["config"]
    cfg = TrainConfig.from_dict(conf.get("train") or {})
    model = (conf.get("model") or {}).get("name") or cfg.model
    r = recipe_of(cfg, model)
    eff = conf.get("effective_lr") or {}
    lr, final = float(eff.get("Init_lr_fit", r.lr)), float(eff.get("Min_lr_fit", r.final_lr))
    opt_en = {"sgd": f"SGD with Nesterov momentum {r.momentum:g}", "adam": f"Adam (beta1 {r.momentum:g})",
              "adamw": f"AdamW (beta1 {r.momentum:g})"}[r.optimizer]
    opt_zh = {"sgd": f"带 Nesterov 动量（{r.momentum:g}）的 SGD", "adam": f"Adam（beta1 {r.momentum:g}）",
              "adamw": f"AdamW（beta1 {r.momentum:g}）"}[r.optimizer]
    start_en, start_zh = _init(cfg)
    en = [f"{md_escape(model)} was trained {start_en} with {opt_en} and weight decay {_g(r.weight_decay)}."]
    zh = [f"{md_escape(model)} {start_zh}，优化器为{opt_zh}，权重衰减 {_g(r.weight_decay)}。"]
    s_en, s_zh = _lr_sentences(r, lr, final)
    en.append(s_en)
    zh.append(s_zh)
    s_en, s_zh = _schedule(r)
    en.append(s_en)
    zh.append(s_zh)
    data = conf.get("data") or {}
    names = data.get("class_names") or []
    terms = " + ".join(f"{n} ({p})" if p else n for n, p in r.losses)
    w = r.class_weights
    if isinstance(w, list) and names and len(w) == len(names):
        weights = ", ".join(f"{md_escape(n)} {v:g}" for n, v in zip(names, w))
        weights_zh = weights
    else:
        weights = {None: "none", "auto": "from the class frequencies of the training masks"}.get(w, str(w))
        weights_zh = {None: "无", "auto": "由训练标签的类别频率计算"}.get(w, str(w))
    en.append(f"The loss is {terms}, the terms added with weight 1; class weights of the first term: {weights}.")
    zh.append(f"损失函数为 {terms}，各项权重为 1；第一项的类别权重：{weights_zh}。")
    h, wd = r.input_shape
    freeze_en = (f" The backbone was frozen for the first {r.freeze_epochs} epochs at batch {r.freeze_batch}."
                 if r.freeze_epochs is not None else " All parameters were trained in one stage, with no freezing.")
    freeze_zh = (f"前 {r.freeze_epochs} 轮冻结主干（批大小 {r.freeze_batch}）。" if r.freeze_epochs is not None
                 else "所有参数在单一阶段中训练，未冻结任何部分。")
    en.append(f"Inputs are {h}×{wd} pixels at batch size {r.batch_size}; the seed is {r.seed}.{freeze_en}")
    zh.append(f"输入尺寸 {h}×{wd}，批大小 {r.batch_size}，随机种子 {r.seed}。{freeze_zh}")
    extra_en, extra_zh = [], []
    if r.ema is not None:
        extra_en.append(f"an exponential moving average of the weights (decay {r.ema:g}) is what is evaluated")
        extra_zh.append(f"评估使用权重的指数滑动平均（衰减 {r.ema:g}）")
    if r.early_stop is not None:
        extra_en.append(f"training stops after {r.early_stop} evaluations without a better validation mIoU")
        extra_zh.append(f"验证 mIoU 连续 {r.early_stop} 次评估未提升即停止")
    if r.grad_clip is not None:
        extra_en.append(f"gradients are clipped to norm {r.grad_clip:g}")
        extra_zh.append(f"梯度范数裁剪为 {r.grad_clip:g}")
    if extra_en:
        en.append(extra_en[0][0].upper() + "; ".join(extra_en)[1:] + ".")
        zh.append("；".join(extra_zh) + "。")
    en_run, zh_run = _run_facts(rec, cfg, r, data)
    return {"en": " ".join(en + en_run), "zh": "".join(zh + zh_run)}


def _run_facts(rec: Mapping[str, Any], cfg: Any, r: Any, data: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """What only the run knows: images, epochs run and their time, the device and precision."""
    conf, history, bench = rec["config"], rec.get("history"), rec.get("bench") or {}
    en, zh = [], []
    if data.get("num_train"):
        steps = int(data["num_train"]) // r.batch_size
        every = "every epoch" if cfg.eval_period == 1 else f"every {cfg.eval_period} epochs"
        every_zh = "每轮" if cfg.eval_period == 1 else f"每 {cfg.eval_period} 轮"
        en.append(f"It used {data['num_train']} training and {data.get('num_val', 0)} validation images "
                  f"({steps} steps per epoch); the checkpoint with the best validation mIoU (evaluated {every}) "
                  "is the one reported.")
        zh.append(f"训练集 {data['num_train']} 张、验证集 {data.get('num_val', 0)} 张（每轮 {steps} 步）；报告验证集 mIoU "
                  f"最高（{every_zh}评估一次）的检查点。")
    if history is not None and len(history):
        minutes = float(history["time"].sum()) / 60 if "time" in history.columns else None
        took = f", in {minutes:.1f} min" if minutes is not None else ""
        took_zh = f"，用时 {minutes:.1f} 分钟" if minutes is not None else ""
        en.append(f"The run trained {counted(len(history), 'epoch')}{took}.")
        zh.append(f"实际训练 {len(history)} 轮{took_zh}。")
    device = conf.get("device")
    if device:
        name = (bench.get("env") or {}).get("device_name") if str((bench.get("env") or {}).get("device", "")).split(":")[0] \
            == str(device).split(":")[0] else None
        prec = (conf.get("precision") or {}).get("precision", r.precision)
        world = int(conf.get("world_size") or 1)
        where = f"{device}" + (f" ({name})" if name else "") + (f", {world} processes" if world > 1 else "")
        en.append(f"Hardware: {where}; precision {prec}.")
        zh.append(f"硬件：{where}；数值精度 {prec}。")
    return en, zh
