"""Where pretrained weights come from: ``"imagenet"``, a URL, or a local file.

``"imagenet"`` names the published ImageNet weights of a backbone: torchvision's
``mobilenet_v2`` (for segkit's MobileNetV2) and timm's ``xception65.tf_in1k`` (for segkit's
aligned Xception), mapped key by key onto segkit's modules by the backbone's own remap.
Downloads go only through the libraries' own caches, with a progress bar:

* ``https://huggingface.co/<repo>/resolve/<rev>/<file>`` URLs (timm's weights) through
  ``huggingface_hub`` into its hub cache (the one timm uses), then checked against the
  SHA-256 the hub publishes for the file;
* every other URL through ``torch.hub`` into ``<torch hub dir>/checkpoints`` with
  ``check_hash`` (the hash prefix in the file name, as torchvision's files carry).

A cached file is used without touching the network. When a file is missing and the host
cannot be reached (a 2 s socket connect, or ``HF_HUB_OFFLINE=1``), :class:`PretrainedOfflineError`
is raised at once, naming the file, the cache folder to place it in, and ``pretrained=PATH``.
"""
from __future__ import annotations

import hashlib
import os
import re
import socket
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import torch

__all__ = ["IMAGENET_URLS", "PretrainedOfflineError", "normalize_source", "resolve_file", "fetch",
           "cached_file", "cache_target", "is_online", "timm_pretrained_file", "pretrained_available"]

# The published ImageNet weights segkit maps onto its own backbones.
IMAGENET_URLS: dict[str, str] = {
    # torchvision MobileNet_V2_Weights.IMAGENET1K_V1 (top-1 71.878)
    "mobilenetv2": "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
    # timm xception65.tf_in1k: the DeepLab aligned Xception-65 ImageNet weights (TensorFlow port)
    "xception": "https://huggingface.co/timm/xception65.tf_in1k/resolve/main/model.safetensors",
}

_HF_URL = re.compile(r"^https://huggingface\.co/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_TRUE = ("1", "true", "yes", "on")


class PretrainedOfflineError(RuntimeError):
    """Pretrained weights are not cached and their host cannot be reached."""


def normalize_source(pretrained: Any) -> str | None:
    """``True`` -> ``"imagenet"``; ``False``/``None``/``""`` -> None; a path or string as ``str``."""
    if pretrained is True:
        return "imagenet"
    if pretrained is None or pretrained is False or pretrained == "":
        return None
    if isinstance(pretrained, (str, os.PathLike)):
        return str(pretrained)
    raise TypeError(f"pretrained={pretrained!r}: use 'imagenet' (or True), a local file path or a URL")


def _hf_cache_dir() -> Path:
    # huggingface_hub's own rule, read at call time so HF_HOME / HF_HUB_CACHE changes apply
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home).expanduser() / "hub"


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def cache_target(url: str) -> tuple[Path, str]:
    """(folder, file name) where the cached copy of `url` lives (or must be placed)."""
    m = _HF_URL.match(url)
    if m:
        repo = m["repo"].replace("/", "--")
        return _hf_cache_dir() / f"models--{repo}" / "snapshots" / m["rev"], m["file"]
    name = os.path.basename(urllib.parse.urlparse(url).path)
    return Path(torch.hub.get_dir()) / "checkpoints", name


def cached_file(url: str) -> Path | None:
    """The cached copy of `url`, or None."""
    m = _HF_URL.match(url)
    if m:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(m["repo"], m["file"], cache_dir=str(_hf_cache_dir()), revision=m["rev"])
        return Path(found) if isinstance(found, str) else None
    folder, name = cache_target(url)
    return folder / name if (folder / name).is_file() else None


def is_online(url: str, timeout: float = 2.0) -> bool:
    """Whether `url`'s host (or the HTTPS proxy, when one is set) accepts a TCP connection within `timeout` s."""
    proxy = urllib.request.getproxies().get("https")
    target = urllib.parse.urlparse(proxy if proxy else url)
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        with socket.create_connection((target.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _offline_message(url: str, what: str) -> str:
    folder, name = cache_target(url)
    return (f"{what} needs {name}, which is not cached, and {urllib.parse.urlparse(url).hostname} cannot be reached "
            f"(offline). Download {url} on a machine with network access, then place it in {folder}/ "
            f"or pass pretrained=PATH/TO/{name}")


def _check_sha256(path: Path) -> None:
    """Compare a hub download with the SHA-256 the hub published (its blob name, for LFS files)."""
    blob = Path(os.path.realpath(path))
    if blob.parent.name != "blobs" or not re.fullmatch(r"[0-9a-f]{64}", blob.name):
        return  # a small non-LFS file (git SHA-1 etag) or a copy without symlinks: nothing to compare
    h = hashlib.sha256()
    with open(blob, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != blob.name:
        blob.unlink()
        raise RuntimeError(f"{path}: SHA-256 {h.hexdigest()} differs from the published {blob.name}; the corrupt "
                           "download was removed, run again to fetch it anew")


def fetch(url: str, what: str = "pretrained weights") -> Path:
    """The local path of `url`: from the cache, else downloaded (progress bar, checksum).

    Raises:
        PretrainedOfflineError: not cached and the host cannot be reached (within ~2 s).
    """
    found = cached_file(url)
    if found is not None:
        return found
    m = _HF_URL.match(url)
    if (m and _hf_offline()) or not is_online(url):
        raise PretrainedOfflineError(_offline_message(url, what))
    if m:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(m["repo"], m["file"], revision=m["rev"], cache_dir=str(_hf_cache_dir())))
        _check_sha256(path)
        return path
    folder, name = cache_target(url)
    folder.mkdir(parents=True, exist_ok=True)
    found = torch.hub.HASH_REGEX.search(name)
    torch.hub.download_url_to_file(url, str(folder / name), found.group(1) if found else None, progress=True)
    return folder / name


def pretrained_available(backbone: str = "mobilenetv2") -> bool:
    """Whether ``pretrained="imagenet"`` can be had for `backbone`: cached, or its host answers (a
    notebook skips a pretrained row offline instead of failing)."""
    url = IMAGENET_URLS.get(backbone)
    return url is not None and (cached_file(url) is not None or is_online(url))


def resolve_file(source: str, backbone: str) -> Path:
    """The local file `source` names for `backbone` (downloading it when needed).

    Args:
        source: ``"imagenet"``, an http(s) URL, or a local file (.pth/.pt/.bin/.safetensors).
        backbone: the backbone name ("mobilenetv2", "xception"), for ``"imagenet"``.
    """
    if source == "imagenet":
        key = "mobilenetv2" if backbone == "mobilenet" else backbone
        if key not in IMAGENET_URLS:
            raise ValueError(f"pretrained='imagenet' has no published weights for backbone={backbone!r}; segkit maps "
                             f"them for {sorted(IMAGENET_URLS)} and timm:<name> backbones. Pass pretrained=PATH")
        return fetch(IMAGENET_URLS[key], f"pretrained='imagenet' for {backbone}")
    if source.startswith(("http://", "https://")):
        return fetch(source, f"pretrained={source!r}")
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"pretrained={source!r}: no such file; pass an existing file, a URL or 'imagenet'")
    return path


def timm_pretrained_file(name: str) -> Path | None:
    """For timm's own ``pretrained=True``: the cached weights of timm model `name`, or None when timm
    may download them itself; raises :class:`PretrainedOfflineError` at once when it could not."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise ValueError(f"timm model {name!r} has no published pretrained weights; pass pretrained=PATH")
    urls = []
    if cfg.hf_hub_id:
        files = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        urls += [f"https://huggingface.co/{cfg.hf_hub_id}/resolve/main/{f}" for f in files]
    if cfg.url:
        urls.append(cfg.url)
    for url in urls:
        found = cached_file(url)
        if found is not None:
            return found
    if (cfg.hf_hub_id and _hf_offline()) or not is_online(urls[0]):
        raise PretrainedOfflineError(_offline_message(urls[0], f"pretrained='imagenet' for timm:{name}"))
    return None
