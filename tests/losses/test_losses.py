"""segkit.losses: the reference's arithmetic, known answers, ignore handling and bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from segkit.losses import CrossEntropyLoss, DiceLoss, FocalLoss, SegLoss, f_score

K = 3


def make_batch(seed=0, size=(16, 16), ignore=255, logit_size=None):
    g = torch.Generator().manual_seed(seed)
    h, w = logit_size or size
    logits = torch.randn(2, K, h, w, generator=g, requires_grad=True)
    target = torch.randint(0, K, (2, *size), generator=g)
    if ignore is not None:
        target[torch.rand(target.shape, generator=g) < 0.2] = ignore
    return logits, target


# the reference implementation (bubbliiiing deeplabv3-plus-pytorch nets/deeplabv3_training.py),
# written out here as the independent reference; its ignore label is num_classes


def ref_focal(inputs, target, cls_weights, num_classes, alpha=0.5, gamma=2):
    n, c, h, w = inputs.size()
    temp_inputs = inputs.transpose(1, 2).transpose(2, 3).contiguous().view(-1, c)
    temp_target = target.view(-1)
    ce = nn.CrossEntropyLoss(weight=cls_weights, ignore_index=num_classes, reduction="none")
    logpt = -ce(temp_inputs, temp_target)
    pt = torch.exp(logpt)
    logpt = logpt * alpha
    return (-((1 - pt) ** gamma) * logpt).mean()


def ref_seg_labels(target, num_classes):
    """The dataloader's one-hot with num_classes + 1 channels (the last is ignore)."""
    t = target.clone()
    t[t >= num_classes] = num_classes
    return torch.eye(num_classes + 1)[t.view(-1)].view(*target.shape, num_classes + 1)


def ref_dice(inputs, seg_labels, beta=1, smooth=1e-5, threshold=None):
    n, c, h, w = inputs.size()
    ct = seg_labels.shape[-1]
    temp_inputs = torch.softmax(inputs.transpose(1, 2).transpose(2, 3).contiguous().view(n, -1, c), -1)
    if threshold is not None:
        temp_inputs = torch.gt(temp_inputs, threshold).float()
    temp_target = seg_labels.view(n, -1, ct)
    tp = torch.sum(temp_target[..., :-1] * temp_inputs, dim=[0, 1])
    fp = torch.sum(temp_inputs, dim=[0, 1]) - tp
    fn = torch.sum(temp_target[..., :-1], dim=[0, 1]) - tp
    score = ((1 + beta**2) * tp + smooth) / ((1 + beta**2) * tp + beta**2 * fn + fp + smooth)
    return score.mean() if threshold is not None else 1 - score.mean()


# reference reproduction -----------------------------------------------------------------


def test_focal_reproduces_reference_quirks():
    logits, target = make_batch(ignore=K)
    w = torch.tensor([1.0, 2.0, 3.0])
    got = FocalLoss(K, weight=w, ignore_index=K)(logits, target)
    torch.testing.assert_close(got, ref_focal(logits, target, w, K))


def test_dice_reference_option_reproduces_reference():
    logits, target = make_batch(ignore=K)
    labels = ref_seg_labels(target, K)
    got = DiceLoss(K, ignore_index=K, reference=True)(logits, target)
    torch.testing.assert_close(got, ref_dice(logits, labels))
    got = f_score(logits, target, ignore_index=K, reference=True)
    torch.testing.assert_close(got, ref_dice(logits, labels, threshold=0.5))


def test_segloss_reference_total():
    logits, target = make_batch(ignore=K)
    w = torch.tensor([1.0, 2.0, 3.0])
    crit = SegLoss(K, focal_loss=True, dice_loss=True, cls_weights=[1, 2, 3], ignore_index=K, reference=True)
    want = ref_focal(logits, target, w, K) + ref_dice(logits, ref_seg_labels(target, K))
    torch.testing.assert_close(crit(logits, target), want)


def test_dice_default_excludes_ignored_pixels():
    logits, target = make_batch()
    valid = target != 255
    probs = torch.softmax(logits, 1) * valid[:, None]
    onehot = F.one_hot(target.clamp(max=K - 1), K).permute(0, 3, 1, 2) * valid[:, None]
    tp = (probs * onehot).sum((0, 2, 3))
    fp, fn = probs.sum((0, 2, 3)) - tp, onehot.sum((0, 2, 3)) - tp
    want = 1 - ((2 * tp + 1e-5) / (2 * tp + fn + fp + 1e-5)).mean()
    torch.testing.assert_close(DiceLoss(K)(logits, target), want)


def test_weighted_ce_is_weighted_mean():
    logits, target = make_batch()
    w = torch.tensor([1.0, 2.0, 3.0])
    valid = target != 255
    t = target.clamp(max=K - 1)
    nll = -torch.log_softmax(logits, 1).gather(1, t[:, None])[:, 0]
    want = (w[t] * nll)[valid].sum() / w[t][valid].sum()
    torch.testing.assert_close(CrossEntropyLoss(K, weight=w)(logits, target), want)


# known answers --------------------------------------------------------------------------


def test_focal_gamma0_alpha1_equals_ce():
    logits, target = make_batch(ignore=None)
    ce = F.cross_entropy(logits, target)
    torch.testing.assert_close(FocalLoss(K, alpha=1, gamma=0)(logits, target), ce)
    # with weights and ignored pixels only the corrected form still equals (weighted) CE
    logits, target = make_batch(seed=1)
    w = [1.0, 2.0, 3.0]
    ce = CrossEntropyLoss(K, weight=w)(logits, target)
    torch.testing.assert_close(FocalLoss(K, alpha=1, gamma=0, weight=w, reference=False)(logits, target), ce)
    assert not torch.allclose(FocalLoss(K, alpha=1, gamma=0, weight=w)(logits, target), ce)


def test_dice_of_perfect_prediction_is_zero():
    _, target = make_batch(ignore=None)
    logits = 50.0 * F.one_hot(target, K).permute(0, 3, 1, 2).float()
    assert DiceLoss(K)(logits, target) < 1e-6
    assert f_score(logits, target) == pytest.approx(1.0, abs=1e-6)
    target[:, :2] = 255  # ignored pixels: excluded by default, counted as fp by the reference
    assert DiceLoss(K)(logits, target) < 1e-6
    assert DiceLoss(K, reference=True)(logits, target) > 0.01


@pytest.mark.parametrize(
    "crit",
    [
        CrossEntropyLoss(K, weight=[1, 2, 3]),
        FocalLoss(K, weight=[1, 2, 3]),
        FocalLoss(K, weight=[1, 2, 3], reference=False),
        DiceLoss(K),
        SegLoss(K, focal_loss=True, dice_loss=True, cls_weights=[1, 2, 3]),
        SegLoss(K, dice_loss=True),
    ],
    ids=["ce", "focal", "focal-corrected", "dice", "focal+dice", "ce+dice"],
)
def test_ignored_pixels_change_nothing_and_grads_finite(crit):
    logits, target = make_batch()
    loss = crit(logits, target)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    grad = logits.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    ignored = (target == 255).unsqueeze(1).expand_as(grad)
    assert grad[ignored].abs().max() == 0  # no gradient flows from ignored pixels
    other = logits.detach().clone()
    other[ignored] = torch.randn(int(ignored.sum())) * 10  # change the ignored logits
    torch.testing.assert_close(crit(other, target), loss.detach())


def test_logits_resized_to_target_bilinear_align_corners():
    logits, target = make_batch(size=(32, 32), logit_size=(16, 16))
    up = F.interpolate(logits, size=(32, 32), mode="bilinear", align_corners=True)
    crit = SegLoss(K, focal_loss=True, dice_loss=True)
    torch.testing.assert_close(crit(logits, target), crit(up, target))
    loss = crit(logits, target)
    loss.backward()
    assert logits.grad.shape == logits.shape and torch.isfinite(logits.grad).all()


def test_segloss_combination_rule():
    logits, target = make_batch()
    w = [1, 2, 3]
    ce, focal, dice = CrossEntropyLoss(K, weight=w), FocalLoss(K, weight=w), DiceLoss(K)
    cases = {
        (False, False): ce(logits, target),
        (True, False): focal(logits, target),
        (False, True): ce(logits, target) + dice(logits, target),
        (True, True): focal(logits, target) + dice(logits, target),
    }
    for (fl, dl), want in cases.items():
        crit = SegLoss(K, focal_loss=fl, dice_loss=dl, cls_weights=w)
        torch.testing.assert_close(crit(logits, target), want)
        assert set(crit.components(logits, target)) == {"focal" if fl else "ce"} | ({"dice"} if dl else set())
    f = SegLoss(K).f_score(logits, target)
    assert f.ndim == 0 and 0 <= f <= 1 and not f.requires_grad


def test_weights_follow_module_device_and_dtype():
    crit = SegLoss(K, focal_loss=True, cls_weights=[1, 2, 3])
    assert "base.weight" in dict(crit.named_buffers())
    crit = crit.double()
    logits, target = make_batch()
    assert torch.isfinite(crit(logits.double(), target))


# bad input ------------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(ValueError, match="length num_classes=3"):
        CrossEntropyLoss(3, weight=[1, 2])
    with pytest.raises(ValueError, match="length num_classes=3"):
        SegLoss(3, focal_loss=True, cls_weights=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="not all zero"):
        CrossEntropyLoss(3, weight=[1, -2, 3])
    with pytest.raises(ValueError, match="alpha"):
        FocalLoss(3, alpha=-0.5)
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(3, gamma=float("nan"))
    with pytest.raises(ValueError, match="beta"):
        DiceLoss(3, beta=0)
    with pytest.raises(ValueError, match="ignore_index=2"):
        DiceLoss(3, ignore_index=2)
    with pytest.raises(ValueError, match="num_classes"):
        SegLoss(0)


def test_bad_inputs():
    crit = SegLoss(K, dice_loss=True)
    logits, target = make_batch()
    with pytest.raises(ValueError, match="float32"):
        crit(logits, target.float())
    with pytest.raises(ValueError, match="4 channels"):
        crit(torch.randn(2, 4, 16, 16), target)
    with pytest.raises(ValueError, match=r"\(3, 16, 16\)"):
        crit(logits, target.new_zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"\[7\]"):
        crit(logits, target.masked_fill(target == 0, 7))
    with pytest.raises(ValueError, match="fix-binary"):
        SegLoss(K, ignore_index=None)(logits, target)
    with pytest.raises(TypeError, match="deep supervision"):
        crit([logits, logits], target)
