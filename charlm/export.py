"""A trained model written for a web page: one file, a JSON header and float32 tensors.

The book's site samples its trained models in the reader's browser, with no server. Each
model is written into the site as one file that a page fetches whole:

- 4 bytes: the header's length in bytes, an unsigned little-endian integer;
- the header: UTF-8 JSON, padded with spaces to a multiple of 4 bytes, holding the format,
  the model's kind and config, its vocabulary (``itos``: id -> character) and, for each
  tensor, its name (as in the model's ``state_dict``), shape and offset (in float32 values
  from the start of the data); for a model built as a ``Sequential`` (Chapter 5's WaveNet),
  its layers in order, each by its class and what its forward pass needs besides weights;
- the data: every tensor of the ``state_dict``, parameters and buffers (BatchNorm's running
  statistics, the counting model's counts), as float32 little-endian, one after another.
  An integer tensor is written as float32 too, which holds every integer up to 2**24
  exactly, and the header keeps its dtype so that ``read_export`` gives it back.

A page reads it with one ``DataView``; ``read_export`` reads it back in Python, and the
tests check that what is written reads back to the same tensors. The model is exported as
it is: put it in eval mode first, which is how a page uses it.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from charlm.vocab import Vocab

FORMAT = "charlm-export/1"


class ExportError(ValueError):
    """Bytes that are not a readable charlm export (the message says why)."""


def to_bytes(model: nn.Module, vocab: Vocab, kind: str, config: Any = None) -> bytes:
    """The export of ``model`` (its whole ``state_dict``) with its vocabulary, as bytes."""
    tensors, entries, offset = [], [], 0
    for name, value in model.state_dict().items():
        if not value.is_floating_point() and value.numel() and value.abs().max() > 2**24:
            raise ValueError(f"{name}: integers above 2**24 do not fit float32 exactly")
        flat = value.detach().to(torch.float32).cpu().contiguous().flatten()
        entries.append({"name": name, "shape": list(value.shape), "offset": offset,
                        "dtype": str(value.dtype).removeprefix("torch.")})  # fmt: skip
        tensors.append(flat)
        offset += flat.numel()
    layers = getattr(model, "layers", None)
    header = {
        "format": FORMAT,
        "kind": kind,
        "config": asdict(config) if is_dataclass(config) else config,
        "block_size": getattr(model, "block_size", None),
        "vocab": vocab.itos,
        "layers": [_describe(layer) for layer in layers] if layers is not None else None,
        "tensors": entries,
        "values": offset,
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)  # the data starts on a float32 boundary
    data = torch.cat(tensors) if tensors else torch.zeros(0)
    return struct.pack("<I", len(text)) + text + data.numpy().astype("<f4").tobytes()


def _describe(layer: nn.Module) -> dict:
    """A layer's class and the settings its forward pass reads (Chapter 5's layers)."""
    found = {"type": type(layer).__name__}
    for name in ("n", "eps"):  # FlattenConsecutive's group, BatchNorm's epsilon
        if hasattr(layer, name):
            found[name] = getattr(layer, name)
    if hasattr(layer, "bias") and isinstance(layer.bias, (torch.Tensor, type(None))):
        found["bias"] = layer.bias is not None
    return found


def write_export(model: nn.Module, vocab: Vocab, kind: str, path: Path, config: Any = None) -> int:
    """Write the export to ``path`` (whole or not at all: a temporary file, then a rename);
    returns its size in bytes."""
    blob = to_bytes(model, vocab, kind, config)
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(blob)
    os.replace(partial, path)
    return len(blob)


def read_export(blob: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """The header and the tensors (name -> tensor, in its own dtype) of an export's bytes."""
    if len(blob) < 4:
        raise ExportError(f"not a charlm export: {len(blob)} bytes, too short for a header")
    (size,) = struct.unpack("<I", blob[:4])
    if size > len(blob) - 4:
        raise ExportError(f"not a charlm export: a header of {size} bytes in {len(blob)}")
    try:
        header = json.loads(blob[4 : 4 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"not a charlm export: its header is not JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise ExportError(f"not a {FORMAT} export (format: {found!r})")
    data = blob[4 + size :]
    try:
        return header, _tensors(header, data)
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise ExportError(f"a damaged export: {error}") from None


def _tensors(header: dict, data: bytes) -> dict[str, torch.Tensor]:
    if len(data) != 4 * header["values"]:
        raise ValueError(f"{len(data)} bytes of data for {header['values']} float32 values")
    values = torch.frombuffer(bytearray(data), dtype=torch.float32) if data else torch.zeros(0)
    tensors = {}
    for entry in header["tensors"]:
        count = 1
        for n in entry["shape"]:
            count *= n
        start = entry["offset"]
        value = values[start : start + count].reshape(entry["shape"])
        tensors[entry["name"]] = value.to(getattr(torch, entry.get("dtype", "float32")))
    return tensors
