"""A trained model kept as a folder: weights, config, vocabulary, split and log (the command).

``charlm train`` writes one and ``charlm sample`` / ``charlm eval`` read it. The folder holds

- ``checkpoint.json``: the format, the model's kind and config (and how many models of it
  an ensemble holds), the vocabulary, the words of the train/dev/test split, the training
  log, and the name and sha256 of the weights;
- ``weights-<sha>.pt``: the model's state, the optimizer's and the batch generator's, saved
  with ``torch.save`` and loaded with ``weights_only=True`` (plain tensors and numbers).

A save writes the new weights beside the old ones, then replaces ``checkpoint.json`` in
one rename: a reader sees the old checkpoint or the new one, never half of one; the old
weights are removed after. A folder that is not a charlm checkpoint, one of a later
format, or one whose weights were damaged is refused with ``CheckpointError``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from charlm.bigram import BigramConfig
from charlm.data import Split
from charlm.ensemble import EnsembleConfig
from charlm.models import MLPConfig, WaveNetConfig
from charlm.recurrent import RecurrentConfig
from charlm.transformer import TransformerConfig
from charlm.vocab import Vocab

FORMAT = "charlm-checkpoint/1"
MANIFEST = "checkpoint.json"
# every kind of model a checkpoint can hold, by the name the command uses
CONFIGS = {
    "bigram": BigramConfig,
    "mlp": MLPConfig,
    "wavenet": WaveNetConfig,
    "rnn": RecurrentConfig,
    "gru": RecurrentConfig,
    "transformer": TransformerConfig,
}


class CheckpointError(RuntimeError):
    """A folder that is not a readable charlm checkpoint (the message says why)."""


@dataclass
class Checkpoint:
    """What a checkpoint folder holds, in memory."""

    kind: str  # "bigram", "mlp", "wavenet", "rnn", "gru" or "transformer"
    config: Any  # the kind's config dataclass
    vocab: Vocab
    split: Split  # the words the model trained on, and the held-out ones
    state: dict[str, Any]  # {"model": ..., "optimizer": ..., "generator": ...}
    log: dict[str, Any] = field(default_factory=dict)  # steps, losses, recipe, best dev loss
    members: int = 1  # above 1: an ensemble of this many models of ``config`` (Chapter 7)

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The model, built from the config with the saved weights, in eval mode."""
        config = self.config if self.members == 1 else EnsembleConfig(self.config, self.members)
        model = config.build(torch.Generator())
        saved, wanted = self.state.get("model", {}), model.state_dict()
        for name in sorted(set(saved) | set(wanted)):
            have = tuple(saved[name].shape) if name in saved else None
            need = tuple(wanted[name].shape) if name in wanted else None
            if have != need:
                raise CheckpointError(
                    f"the weights do not fit its {self.kind} config: {name} is {have} in the "
                    f"checkpoint, {need} in the model"
                )
        model.load_state_dict(saved)
        return model.to(device).eval()


def save(checkpoint: Checkpoint, folder: str | os.PathLike) -> None:
    """Write ``checkpoint`` into ``folder`` atomically (see the module docstring).

    A write that fails (a full disk, a folder that cannot be written) raises
    ``CheckpointError`` naming the folder and the cause, and leaves the folder as it was:
    the checkpoint saved last, no temporary file and no new weights.
    """
    folder = Path(folder)
    try:
        _save(checkpoint, folder)
    except OSError as error:
        raise CheckpointError(
            f"cannot write the checkpoint into {folder}: {error.strerror or error}"
            + ("; the one saved last is kept" if is_checkpoint(folder) else "")
        ) from None


def _save(checkpoint: Checkpoint, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(checkpoint.state, buffer)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    weights = f"weights-{digest[:16]}.pt"
    new_weights = not (folder / weights).exists()  # (the same state is the same file)
    _write_atomically(folder / weights, data)
    manifest = {
        "format": FORMAT,
        "kind": checkpoint.kind,
        "config": asdict(checkpoint.config),
        "members": checkpoint.members,
        "vocab": {"chars": checkpoint.vocab.chars, "boundary": checkpoint.vocab.boundary},
        "split": asdict(checkpoint.split),
        "log": checkpoint.log,
        "weights": {"file": weights, "sha256": digest},
    }
    try:
        _write_atomically(folder / MANIFEST, json.dumps(manifest, ensure_ascii=False).encode())
    except BaseException:
        if new_weights:  # the manifest still names the old weights
            (folder / weights).unlink(missing_ok=True)
        raise
    for old in folder.glob("weights-*.pt"):
        if old.name != weights:
            old.unlink(missing_ok=True)


def is_checkpoint(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a checkpoint manifest (readable or not)."""
    return (Path(folder) / MANIFEST).is_file()


def load(folder: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint folder; ``CheckpointError`` says what is wrong with a bad one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"no checkpoint folder at {folder}")
    if not is_checkpoint(folder):
        raise CheckpointError(f"{folder} is not a charlm checkpoint (it has no {MANIFEST})")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        fmt = manifest["format"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{folder / MANIFEST} is damaged or not charlm's") from None
    if fmt != FORMAT:
        raise CheckpointError(
            f"{folder} is a checkpoint of format {fmt!r}; this charlm reads {FORMAT!r}"
        )
    try:
        kind = manifest["kind"]
        config = CONFIGS[kind](**manifest["config"])
        vocab = Vocab(**manifest["vocab"])
        split = Split(**manifest["split"])
        weights = folder / manifest["weights"]["file"]
        data = weights.read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest["weights"]["sha256"]:
            raise CheckpointError(f"{weights} is damaged (its sha256 does not match)")
        state = torch.load(io.BytesIO(data), weights_only=True)
        log = manifest.get("log", {})
        members = manifest.get("members", 1)  # (checkpoints saved before ensembles: one)
        if not isinstance(members, int) or isinstance(members, bool) or members < 1:
            raise ValueError(f"members must be a whole number >= 1, got {members!r}")
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as error:
        raise CheckpointError(f"{folder} is not a readable charlm checkpoint: {error}") from None
    except Exception as error:  # torch.load's errors for a file that is not its format
        raise CheckpointError(f"{folder}: the weights cannot be read: {error}") from None
    return Checkpoint(kind, config, vocab, split, state, log, members)


def _write_atomically(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or what it held before, never part of it; no temporary file
    is left behind, whatever happens."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
