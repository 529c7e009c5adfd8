"""Fuzz targets shared by the CI property tests and `bench/fuzz.py` (many more examples).

Each target feeds generated input to one entry point and lets only `NtTuiError` (the documented
error type) escape.
"""

from __future__ import annotations

import json
import string

from hypothesis import strategies as st

from nt_tui.config import load_config_text
from nt_tui.config.schema import SECTIONS, TrainingConfig
from nt_tui.errors import NtTuiError

_keys = st.sampled_from([*SECTIONS, "name", "seed", "precision", "lr", "size", "backends",
                         "total_steps", "batch_size", "val_split", "entrypoint", "bogus"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**12),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.text(string.printable, max_size=20))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=5)), max_leaves=12)

#: YAML-ish documents: structured mappings, rendered, plus raw text and bytes decoded loosely.
config_documents = st.one_of(
    st.dictionaries(_keys, _values, max_size=6).map(lambda d: __import__("yaml").safe_dump(d)),
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace")),
)


def config_loader_target(text: str) -> None:
    """Parse arbitrary text as a config; only NtTuiError may escape."""
    try:
        result = load_config_text(text, source="fuzz.yaml")
    except NtTuiError as exc:
        assert exc.message and "\n" not in exc.one_line()
        return
    assert isinstance(result, TrainingConfig)


# ------------------------------------------------------------------------------ log readers
#
# Every log format nt-tui reads gets a strategy that builds plausible files (real structure
# with odd names, odd values, torn and corrupted bytes) and raw junk. The target writes them
# into a fresh folder, then reads them as a user's command would (`load_run`) and as the
# monitor does (`Follower.poll`, before and after more bytes are appended).

_METRIC_NAMES = ["step", "global_step", "train_loss", "loss", "val_loss", "eval_loss", "lr",
                 "learning_rate", "grad_norm", "epoch", "time", "tokens_per_s", "throughput",
                 "train_loss_step", "val_loss_epoch", "lr-AdamW", "perplexity"]
_odd_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_names = st.one_of(st.sampled_from(_METRIC_NAMES), _odd_text,
                   st.sampled_from(["\x1b[31mred\x1b[0m", "a,b", 'q"uote', "", " ", "x" * 300]))
_numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.integers(-2**70, 2**70), st.integers(-3, 10_000))
_json_values = st.one_of(
    _numbers, st.none(), st.booleans(), _odd_text,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "", "nan"]),
    st.lists(_numbers, max_size=3), st.dictionaries(_names, _numbers, max_size=3))
_cells = st.one_of(_numbers.map(str), _odd_text,
                   st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e999", "None", '"']))


@st.composite
def _damaged(draw, data: bytes) -> bytes:
    """`data` as written, cut short (a writer killed mid-line), or with a few bytes changed."""
    how = draw(st.sampled_from(["whole", "whole", "cut", "flip", "insert"]))
    if not data or how == "whole":
        return data
    at = draw(st.integers(0, len(data) - 1))
    if how == "cut":
        return data[:at]
    junk = draw(st.binary(min_size=1, max_size=8))
    if how == "flip":
        return data[:at] + junk + data[at + len(junk):]
    return data[:at] + junk + data[at:]


def _files(strategy, damage: bool = True):
    """Either the structured content (maybe damaged) or arbitrary bytes."""
    structured = strategy.flatmap(_damaged) if damage else strategy
    return st.one_of(structured, structured, st.binary(max_size=400))


def _jsonl_bytes(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


_records = st.lists(st.dictionaries(_names, _json_values, max_size=6), max_size=20)
_rows_of_steps = st.lists(st.fixed_dictionaries(
    {"step": st.one_of(st.integers(-5, 10**6), _json_values)},
    optional={name: _json_values for name in _METRIC_NAMES[1:8]}), max_size=20)


@st.composite
def _table(draw, names=None, seps=(",", "\t", ";")) -> bytes:
    columns = draw(names if names is not None else st.lists(_names, min_size=1, max_size=6))
    sep = draw(st.sampled_from(seps))
    rows = draw(st.lists(st.lists(_cells, min_size=0, max_size=len(columns) + 2), max_size=20))
    lines = [sep.join(columns)] + [sep.join(row) for row in rows]
    return ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))).encode(
        "utf-8", "surrogatepass")


@st.composite
def _trainer_state(draw) -> bytes:
    state = {"global_step": draw(_json_values),
             "log_history": draw(st.one_of(_records, _rows_of_steps, _json_values))}
    state.update(draw(st.dictionaries(_names, _json_values, max_size=3)))
    return json.dumps(state).encode()


_TEXT_LINES = [
    "iter {i}: loss {x:.4f}, time {y:.2f}ms, mfu {z:.2f}%",
    "step {i}: train loss {x:.4f}, val loss {y:.4f}",
    "| epoch {i:03d} | loss {x:.3f} | lr {z:.3e} | wps {y:.0f}",
    "{{'loss': {x}, 'learning_rate': {z}, 'epoch': {y}}}",
    "Epoch {i}: 100%|####| 10/10 [00:01<00:00, loss={x:.3f}, v_num=0]",
    "step={i} loss={x} lr={z} grad_norm={y}",
]


@st.composite
def _text_log(draw) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 20))):
        if draw(st.booleans()):
            template = draw(st.sampled_from(_TEXT_LINES))
            lines.append(template.format(i=draw(st.integers(-5, 10**7)),
                                         x=draw(_numbers), y=draw(_numbers), z=draw(_numbers)))
        else:
            lines.append(draw(_odd_text))
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def _event_file(draw) -> bytes:
    """TensorBoard records, correctly framed (length, CRCs), holding real Event protos with odd
    tags and values, scalar tensors, or arbitrary payload bytes."""
    import io

    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    writer.write(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2")
                 .SerializeToString())
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["scalar", "scalar", "tensor", "bytes"]))
        if kind == "bytes":
            writer.write(draw(st.binary(max_size=60)))
            continue
        value = summary_pb2.Summary.Value(tag=draw(_names))
        number = draw(st.floats(allow_nan=True, allow_infinity=True, width=32))
        if kind == "scalar":
            value.simple_value = number
        else:
            value.metadata.plugin_data.plugin_name = "scalars"
            value.tensor.CopyFrom(tensor_pb2.TensorProto(dtype=draw(st.integers(0, 20)),
                                                         float_val=[number]))
        writer.write(event_pb2.Event(
            wall_time=draw(st.floats(allow_nan=True, allow_infinity=True)),
            step=draw(st.integers(-2**63, 2**63 - 1)),
            summary=summary_pb2.Summary(value=[value])).SerializeToString())
    return buffer.getvalue()


@st.composite
def _wandb_file(draw) -> bytes:
    """A W&B offline transaction log: the `:W&B` header, then LevelDB-framed records (FULL, or
    split FIRST/MIDDLE/LAST across fragments) holding wandb's own `Record` messages with odd
    history and config items, or arbitrary payload bytes."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    payloads = []
    for _ in range(draw(st.integers(0, 10))):
        kind = draw(st.sampled_from(["history", "history", "config", "bytes"]))
        if kind == "bytes":
            payloads.append(draw(st.binary(max_size=60)))
            continue
        items = []
        for _ in range(draw(st.integers(0, 4))):
            key = draw(st.one_of(st.sampled_from(["_step", "_runtime", "_timestamp",
                                                  "train/loss", "eval/loss", "lr"]), _names))
            value = json.dumps(draw(_json_values)) if draw(st.booleans()) else draw(_odd_text)
            nested = draw(st.booleans())
            items.append((key, value, nested))
        record = pb.Record()
        if kind == "history":
            for key, value, nested in items:
                item = record.history.item.add(value_json=value)
                item.nested_key.extend(key.split("/")) if nested else setattr(item, "key", key)
            if draw(st.booleans()):
                record.history.step.num = draw(st.integers(-2**63, 2**63 - 1))
        else:
            for key, value, _ in items:
                record.config.update.add(key=key, value_json=value)
        payloads.append(record.SerializeToString())
    out = bytearray(b":W&B" + bytes([0xE1, 0xBE, 0x00]))
    block = 32768
    for payload in payloads:
        pieces = [payload] if draw(st.booleans()) or len(payload) < 2 else \
            [payload[:len(payload) // 2], payload[len(payload) // 2:]]
        for index, piece in enumerate(pieces):
            left = block - len(out) % block
            if left < 7:
                out += b"\x00" * left
            kind = 1 if len(pieces) == 1 else (2 if index == 0 else 4)
            out += b"\x00\x00\x00\x00" + struct.pack("<H", len(piece)) + bytes([kind]) + piece
    return bytes(out)


#: (files as relative path -> bytes, the path to open, where to split for the follower)
log_layouts = {
    "jsonl": st.tuples(_files(st.one_of(_records, _rows_of_steps).map(_jsonl_bytes))
                       .map(lambda data: {"log.jsonl": data}), st.just("log.jsonl")),
    "nt_run": st.tuples(st.tuples(
        _files(_rows_of_steps.map(_jsonl_bytes)), _files(_records.map(_jsonl_bytes)),
        _files(st.sampled_from([b"name: fuzz\n", b"name: [\n", b"- a\n", b""]), damage=False),
    ).map(lambda parts: {"run/metrics.jsonl": parts[0], "run/events.jsonl": parts[1],
                         "run/config.yaml": parts[2]}), st.just("run")),
    "csv": st.tuples(_files(_table()).map(lambda data: {"log.csv": data}), st.just("log.csv")),
    "lightning": st.tuples(st.tuples(
        _files(_table(st.lists(_names, max_size=4).map(lambda extra: ["epoch", "step", *extra]),
                      seps=(",",))),
        _files(st.sampled_from([b"lr: 0.001\n", b"lr: [\n", b"!!python/object:os.system\n",
                                b""]), damage=False),
    ).map(lambda parts: {"lightning_logs/version_0/metrics.csv": parts[0],
                         "lightning_logs/version_0/hparams.yaml": parts[1]}),
        st.just("lightning_logs/version_0")),
    "hf_trainer_state": st.tuples(_files(_trainer_state()).map(
        lambda data: {"checkpoint-10/trainer_state.json": data}), st.just("checkpoint-10")),
    "text_log": st.tuples(_files(_text_log()).map(lambda data: {"train.log": data}),
                          st.just("train.log")),
    "tensorboard": st.tuples(_files(_event_file()).map(
        lambda data: {"tb/events.out.tfevents.1700000000.host.1.0": data}), st.just("tb")),
    "wandb_offline": st.tuples(_files(_wandb_file()).map(
        lambda data: {"wandb/offline-run-20250101_000000-fuzz/run-fuzz.wandb": data}),
        st.just("wandb/offline-run-20250101_000000-fuzz")),
}


def log_reader_check(layout: tuple[dict[str, bytes], str]) -> None:
    """Read generated log files as `nt-tui analyze` and the monitor do; only NtTuiError may
    escape, whatever is read is a well-formed RunHistory, and its interpretation is valid
    JSON (no NaN leaks into `--json`)."""
    import tempfile
    from pathlib import Path

    from nt_tui.runlogs import load_run
    from nt_tui.runlogs.follow import Follower

    files, target = layout
    with tempfile.TemporaryDirectory(prefix="nt-fuzz-") as folder:
        root = Path(folder)
        halves = {}
        for relative, data in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            cut = len(data) // 2
            path.write_bytes(data[:cut])
            halves[path] = data[cut:]
        try:
            follower = Follower(root / target)
            follower.poll()  # half written, as a live run is
            for path, rest in halves.items():
                with open(path, "ab") as handle:
                    handle.write(rest)
            follower.poll()
        except NtTuiError as exc:
            assert exc.message and "\n" not in exc.one_line()
        try:
            history = load_run(root / target)
        except NtTuiError as exc:
            assert exc.message and "\n" not in exc.one_line()
            return
    assert "step" in history.frame.columns and not history.frame.empty
    for metric in history.metrics:
        history.series(metric)
    from nt_tui.analysis.curves import interpret

    try:  # and what `nt-tui analyze` makes of it
        json.dumps(interpret(history).to_dict(), allow_nan=False)
    except NtTuiError as exc:
        assert exc.message and "\n" not in exc.one_line()


def _make_reader_target(layout_name: str):
    def target(layout: tuple[dict[str, bytes], str]) -> None:
        log_reader_check(layout)
    target.__doc__ = f"Read generated {layout_name} logs; only NtTuiError may escape."
    return target


jsonl_reader_inputs = log_layouts["jsonl"]
jsonl_reader_target = _make_reader_target("JSONL")
nt_run_reader_inputs = log_layouts["nt_run"]
nt_run_reader_target = _make_reader_target("nt-tui run directory")
csv_reader_inputs = log_layouts["csv"]
csv_reader_target = _make_reader_target("CSV/TSV")
lightning_reader_inputs = log_layouts["lightning"]
lightning_reader_target = _make_reader_target("Lightning metrics.csv")
hf_trainer_state_reader_inputs = log_layouts["hf_trainer_state"]
hf_trainer_state_reader_target = _make_reader_target("Hugging Face trainer_state.json")
text_log_reader_inputs = log_layouts["text_log"]
text_log_reader_target = _make_reader_target("text log")
tensorboard_reader_inputs = log_layouts["tensorboard"]
tensorboard_reader_target = _make_reader_target("TensorBoard event file")
wandb_offline_reader_inputs = log_layouts["wandb_offline"]
wandb_offline_reader_target = _make_reader_target("W&B offline run")
