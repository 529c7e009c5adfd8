"""What an advisor knows about the user's situation, from the question text, options and a run.

`extract_inputs("fine-tune a 7B model on 50k examples with one 24GB GPU")` reads the numbers a
question states (model size, GPU memory and count, dataset tokens or examples, compute or GPU
budget, batch, sequence length, steps, learning rate, epochs, optimizer, precision) with
regular expressions; options given on the command line or in the app override them, and a run
(`--run PATH`) fills what is still missing from its config. `sources` records where each value
came from so answers can say "from your question" or "from the run".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nt_tui.runlogs.history import RunHistory

#: Multipliers for written counts: 50k, 124M, 7B, 1.4T, "7 billion".
_SCALE = {"": 1.0, "k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6,
          "b": 1e9, "bn": 1e9, "billion": 1e9, "t": 1e12, "trillion": 1e12}
#: Memory of common GPUs in GB (NVIDIA/AMD datasheets; the larger variant where there are
#: two, e.g. A100 80GB, unless the question names the size).
GPU_MEMORY_GB = {"h200": 141, "h100": 80, "a100": 80, "a6000": 48, "l40s": 48, "l40": 48,
                 "a40": 48, "v100": 32, "a10g": 24, "a10": 24, "l4": 24, "4090": 24, "3090": 24,
                 "t4": 16, "4080": 16, "3080": 10, "mi300x": 192, "mi250": 128}
#: GPUs whose dense bf16 peak knowledge/scaling-laws.md gives.
_PEAK_GPUS = ("a100", "h100")

_NUM = r"(\d+(?:,\d{3})*(?:\.\d+)?(?:e[+-]?\d+)?)"
_SUFFIX = r"\s*(thousand|million|billion|trillion|mn|bn|k|m|b|t)?"
_COUNT = _NUM + _SUFFIX
_GPU_NAMES = "|".join(sorted(GPU_MEMORY_GB, key=len, reverse=True))
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4,
                 "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
                 "twelve": 12, "sixteen": 16, "thirty": 30}
_SPELLED = r"(?:a|an|" + "|".join(n for n in _WORD_NUMBERS if len(n) > 2) + ")"

_PATTERNS: dict[str, re.Pattern] = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in {
    "params": _COUNT + r"[\s-]*(?:param(?:eter)?s?\b|parameter)",
    "params_model": _COUNT + r"[\s-]*(?:[a-z]+[\s-]+)?(?:model|llm|transformer|network|net|gpt|"
                    r"llama|mistral|checkpoint|base)\b",
    "params_bare": r"(?<![\w.])" + _NUM + r"\s?(b|bn)\b(?![\s-]*(?:tokens?|examples?|samples?))",
    "tokens": _COUNT + r"[\s-]*(?:unique\s+)?tokens?\b",
    "examples": _COUNT + r"[\s-]*(?:labell?ed\s+|training\s+|curated\s+|preference\s+)?"
                r"(?:examples?|samples?|pairs?|conversations?|instructions?|rows?|prompts?|"
                r"dialogues?|documents?|sentences?)\b",
    "memory": _NUM + r"\s*(?:gb|gib|g)\b(?!\s*(?:of\s+)?(?:data|text|tokens|corpus|dataset))",
    "gpu_count": r"(\d+|" + _SPELLED[3:-1] + r")\s*(?:x\s*)?"
                 r"(?:nvidia\s+)?(?:\d+\s*gb\s+)?(" + _GPU_NAMES + r"|gpu)s?\b"
                 r"(?![\s-]*(?:hours?|hrs?|h)\b)",
    "gpu_name": r"\b(" + _GPU_NAMES + r")s?\b",
    "gpu_hours": _COUNT + r"\s*(?:gpu|a100|h100)[\s-]*(?:hours?|hrs?|h)\b",
    "duration": r"(?:for|over|in|within)\s+(?P<amount>" + _SPELLED + r"|\d+(?:\.\d+)?)\s*"
                r"(?P<unit>hours?|hrs?|days?|weeks?|months?)\b",
    "compute": r"(" + _NUM + r"|10\^\d+)\s*(?:total\s+)?(?:training\s+)?flops?\b",
    "at_step": r"(?:after|at|around|near|by|past|from)\s+(?:about\s+|roughly\s+)?(?:step\s+)?"
               + _COUNT + r"(?:\s*(?:steps?|iterations?|iters?|updates?))?\b",
    "steps": _COUNT + r"\s*(?:total\s+)?(?:training\s+)?(?:steps?|iterations?|iters?|updates?)\b",
    "batch_change": r"batch(?:\s*size)?\s*(?:from\s+)?" + _COUNT + r"\s*(?:to|->|→)\s*" + _COUNT,
    "batch_tokens": r"batch(?:\s*size)?\s*(?:of\s+|=\s*|is\s+)?" + _COUNT + r"\s*tokens?\b",
    "batch": r"(?:batch(?:\s*size)?|bs)\s*(?:of\s+|=\s*|is\s+|:\s*)?(\d+)\b(?!\s*tokens?)",
    "micro_batch": r"(?:micro[\s-]?batch|per[\s-]device\s+batch|per[\s-]gpu\s+batch)"
                   r"(?:\s*size)?\s*(?:of\s+|=\s*|is\s+)?(\d+)",
    "seq_len": r"(?:seq(?:uence)?[\s_-]*len(?:gth)?|context(?:\s*(?:length|window|size))?|"
               r"block[\s_]size|max[\s_]len(?:gth)?)\s*(?:of\s+|=\s*|is\s+|:\s*)?" + _COUNT,
    "seq_len_tokens": _COUNT + r"[\s-]*tokens?[\s-]+(?:context|sequences?|seq)\b",
    "lr": r"(?:\blr|learning[\s-]rate)\s*(?:of\s+|=\s*|is\s+|:\s*|at\s+|to\s+)?"
          r"(\d+(?:\.\d+)?(?:e[+-]?\d+)?)",
    "epochs": _NUM + r"\s*epochs?\b",
    "optimizer": r"\b(adamw|adam|sgd|lion|sophia|adafactor|rmsprop)\b",
    "precision": r"\b(fp16|float16|half[\s-]precision|bf16|bfloat16|fp32|float32|amp)\b",
}.items()}


@dataclass
class AdvisorInputs:
    """Everything the four advisors can use; None where unknown."""

    text: str = ""
    params: float | None = None
    gpu_memory_gb: float | None = None
    gpus: int | None = None
    gpu_type: str | None = None
    dataset_tokens: float | None = None
    examples: float | None = None
    compute: float | None = None
    gpu_hours: float | None = None
    hours: float | None = None
    batch_size: int | None = None
    new_batch_size: int | None = None
    batch_tokens: float | None = None
    micro_batch: int | None = None
    seq_len: int | None = None
    steps: float | None = None
    at_step: float | None = None
    lr: float | None = None
    epochs: float | None = None
    optimizer: str | None = None
    precision: str | None = None
    run: Path | None = None
    #: field name -> "question", "option" or "run"
    sources: dict[str, str] = field(default_factory=dict)

    def known(self) -> dict[str, Any]:
        """The fields that have a value (text, run and sources left out)."""
        skip = {"text", "run", "sources"}
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in skip and getattr(self, f.name) is not None}

    def merge(self, other: "AdvisorInputs", source: str, overwrite: bool = True) -> None:
        """Copy `other`'s known values into this one, recording `source` for each."""
        for name, value in other.known().items():
            if overwrite or getattr(self, name) is None:
                setattr(self, name, value)
                self.sources[name] = source

    def source_of(self, name: str) -> str:
        return self.sources.get(name, "assumed")


def _count(number: str, suffix: str | None = "") -> float:
    return float(number.replace(",", "")) * _SCALE[(suffix or "").lower()]


def _first(name: str, text: str) -> re.Match | None:
    return _PATTERNS[name].search(text)


def extract_inputs(text: str) -> AdvisorInputs:
    """The quantities a question states, read with regular expressions (see module doc)."""
    found = AdvisorInputs(text=text)
    lowered = " ".join(text.lower().split())
    _extract_model(found, lowered)
    _extract_hardware(found, lowered)
    _extract_training(found, lowered)
    found.sources = {name: "question" for name in found.known()}
    return found


def _extract_model(found: AdvisorInputs, text: str) -> None:
    for name in ("params", "params_model", "params_bare"):
        match = _first(name, text)
        if match:
            value = _count(match.group(1), match.group(2))
            if value >= 1e5:  # "a 3 layer model" is not a parameter count
                found.params = value
                break
    match = _first("tokens", text)
    if match and not _is_batch_or_context(text, match):
        found.dataset_tokens = _count(match.group(1), match.group(2))
    match = _first("examples", text)
    if match:
        found.examples = _count(match.group(1), match.group(2))


def _is_batch_or_context(text: str, match: re.Match) -> bool:
    """A token count that belongs to a batch ("batch of 1M tokens") or a context length."""
    before = text[max(0, match.start() - 24):match.start()]
    after = text[match.end():match.end() + 12]
    return bool(re.search(r"batch|context|per step|sequence|seq", before) or
                re.match(r"[\s-]*(?:context|sequences?|seq|per\s+step|batch)", after))


def _extract_hardware(found: AdvisorInputs, text: str) -> None:
    match = _first("memory", text)
    if match:
        found.gpu_memory_gb = float(match.group(1).replace(",", ""))
    match = _first("gpu_name", text)
    if match:
        found.gpu_type = match.group(1).upper()
        if found.gpu_memory_gb is None:
            found.gpu_memory_gb = float(GPU_MEMORY_GB[match.group(1)])
    match = _first("gpu_count", text)
    if match:
        raw = match.group(1)
        found.gpus = int(raw) if raw.isdigit() else _WORD_NUMBERS.get(raw, 1)
    match = _first("gpu_hours", text)
    if match:
        found.gpu_hours = _count(match.group(1), match.group(2))
    match = _first("duration", text)
    if match:
        raw = match.group("amount")
        amount = float(_WORD_NUMBERS[raw]) if raw in _WORD_NUMBERS else _count(raw)
        unit = match.group("unit")
        hours_per = {"h": 1, "d": 24, "w": 168, "m": 730}[unit[0]]
        found.hours = amount * hours_per
    match = _first("compute", text)
    if match:
        raw = match.group(1)
        found.compute = 10.0 ** int(raw.split("^")[1]) if "^" in raw else _count(raw)


def _extract_training(found: AdvisorInputs, text: str) -> None:
    match = _first("at_step", text)
    if match and re.search(r"step|iter|update", match.group(0)):
        found.at_step = _count(match.group(1), match.group(2))
    for match in _PATTERNS["steps"].finditer(text):
        if found.at_step is None or not _overlaps(match, _first("at_step", text)):
            found.steps = _count(match.group(1), match.group(2))
            break
    match = _first("batch_change", text)
    if match:
        found.batch_size = int(_count(match.group(1), match.group(2)))
        found.new_batch_size = int(_count(match.group(3), match.group(4)))
    else:
        match = _first("batch_tokens", text)
        if match:
            found.batch_tokens = _count(match.group(1), match.group(2))
        match = _first("batch", text)
        if match and found.batch_tokens is None:
            found.batch_size = int(match.group(1))
    match = _first("micro_batch", text)
    if match:
        found.micro_batch = int(match.group(1))
    match = _first("seq_len", text) or _first("seq_len_tokens", text)
    if match:
        found.seq_len = int(_count(match.group(1), match.group(2)))
    match = _first("lr", text)
    if match:
        value = float(match.group(1))
        if 0 < value < 10:
            found.lr = value
    match = _first("epochs", text)
    if match:
        found.epochs = float(match.group(1).replace(",", ""))
    match = _first("optimizer", text)
    if match:
        found.optimizer = match.group(1)
    match = _first("precision", text)
    if match:
        word = match.group(1)
        found.precision = ("bf16" if word.startswith("b") else
                           "fp32" if "32" in word else "fp16")


def _overlaps(a: re.Match, b: re.Match | None) -> bool:
    return b is not None and a.start() < b.end() and b.start() < a.end()


def inputs_from_run(path: Path, history: "RunHistory | None" = None) -> AdvisorInputs:
    """Model size, dataset tokens, learning rate and batch recorded with a run (its config and
    the files beside its log), for the advisors to use where the question gives none."""
    from nt_tui.analysis.diagnosis.core import context_for

    if history is None:
        from nt_tui.runlogs import load_run

        history = load_run(Path(path))
    context = context_for(history, Path(path))
    found = AdvisorInputs(run=Path(path))
    if context.num_params:
        found.params = float(context.num_params)
    if context.dataset_tokens:
        found.dataset_tokens = float(context.dataset_tokens)
    config = history.config or {}
    optimizer = config.get("optimizer") if isinstance(config.get("optimizer"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    schedule = config.get("schedule") if isinstance(config.get("schedule"), dict) else {}
    found.lr = _finite(optimizer.get("lr") or config.get("learning_rate"))
    found.batch_size = _whole(data.get("batch_size") or config.get("per_device_train_batch_size"))
    found.seq_len = _whole(data.get("seq_len"))
    found.steps = _finite(schedule.get("total_steps") or config.get("max_steps"))
    found.sources = {name: "run" for name in found.known()}
    return found


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _whole(value: Any) -> int | None:
    number = _finite(value)
    return int(number) if number else None
