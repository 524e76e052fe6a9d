"""Read a TensorFlow.js graph model (``model.json`` + its ``.bin`` weight shards).

``model.json`` holds the graph (``modelTopology.node``: name, op, inputs, attributes) and the
weights manifest (``weightsManifest[].weights``: name, shape, dtype, optional quantisation);
the ``.bin`` files it names hold the weights back to back in manifest order. Weights stored as
float16 (``quantization.dtype == "float16"``) are dequantised to float32; int32 constants
(shapes, axes, indices of the graph's decoding) are kept as int32. Nothing is executed.

Mapping onto a network is done by ``engine.models.movenet``; this module only reads and checks
the files. A missing or damaged file, a SHA-256 that differs from the recorded one, a manifest
that does not match the bytes, or a dtype this reader does not know raises ``TfjsImportError``
naming the file (and the weight).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.fileio import sha256_file
from .tflite_import import PretrainedError

#: Files this project has checked (``../shared/pretrained/README.md``): name -> sha256.
KNOWN_SHA256: dict[str, str] = {
    "movenet-thunder.json": "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
    "movenet-thunder.bin": "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c",
    "movenet-lightning.json": "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
    "movenet-lightning.bin": "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34",
}

_DTYPES = {"float32": np.float32, "int32": np.int32}


class TfjsImportError(PretrainedError):
    """A TensorFlow.js graph model that cannot be imported; the message names the file and why."""


@dataclass
class GraphNode:
    """One node of ``modelTopology.node``: its op, its inputs (tensor names, ``^`` control
    inputs dropped) and its attributes decoded to plain values (strings, ints, lists)."""
    name: str
    op: str
    inputs: list[str]
    attrs: dict


@dataclass
class TfjsGraph:
    """What ``read_graph_model`` found: every weight by name (float32 or int32 numpy arrays), the
    graph's nodes by name, the input shape (N, H, W, C), and each file's SHA-256."""
    path: str
    weights: dict[str, np.ndarray]
    nodes: dict[str, GraphNode]
    input_shape: tuple[int, ...]
    sha256: dict[str, str] = field(default_factory=dict)
    generated_by: str = ""

    def consumer(self, weight: str) -> GraphNode | None:
        """The node that reads ``weight`` as an input (its convolution), if any."""
        for node in self.nodes.values():
            if weight in node.inputs:
                return node
        return None


def _checked_sha(path: Path, strict: bool) -> str:
    """The file's SHA-256; with ``strict``, refused unless it is the recorded digest of a known file."""
    digest = sha256_file(path)
    if not strict:
        return digest
    want = KNOWN_SHA256.get(path.name)
    if want is None:
        raise TfjsImportError(f"{path}: not one of the files this importer has checked "
                              f"({', '.join(KNOWN_SHA256)})")
    if digest != want:
        raise TfjsImportError(f"{path}: sha256 {digest[:16]}... differs from the recorded {want[:16]}...: "
                              "the file is damaged or not the one listed in ../shared/pretrained/README.md")
    return digest


def _attr(value: dict):
    """A tfjs attribute value as a plain Python value (``s`` strings are base64)."""
    if "s" in value:
        return base64.b64decode(value["s"]).decode(errors="replace")
    if "list" in value:
        lst = value["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode(errors="replace") for v in lst["s"]]
        return []
    for key in ("i", "f", "b"):
        if key in value:
            return int(value[key]) if key == "i" else value[key]
    return value


def read_graph_model(json_path: str | Path, strict: bool = True) -> TfjsGraph:
    """Parse ``json_path`` and its weight shards (see the module docstring). With ``strict``
    only the files of ``KNOWN_SHA256`` are accepted, each with its recorded digest; without it
    any graph is read (for tests of malformed graphs; the CLI is always strict)."""
    path = Path(json_path)
    if not path.is_file():
        raise TfjsImportError(f"{path}: file not found")
    digests = {path.name: _checked_sha(path, strict)}
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
        topology = model["modelTopology"]
        manifest = model["weightsManifest"]
        raw_nodes = topology["node"]
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TfjsImportError(f"{path}: not valid JSON ({e})") from None
    except (KeyError, TypeError):
        raise TfjsImportError(f"{path}: not a TensorFlow.js graph model (needs modelTopology.node "
                              "and weightsManifest)") from None
    nodes = {}
    for n in raw_nodes:
        inputs = [i for i in n.get("input", []) if not i.startswith("^")]
        nodes[n["name"]] = GraphNode(n["name"], n["op"], inputs,
                                     {k: _attr(v) for k, v in n.get("attr", {}).items()})
    placeholders = [n for n in raw_nodes if n["op"] == "Placeholder"]
    if len(placeholders) != 1:
        raise TfjsImportError(f"{path}: {len(placeholders)} inputs; expected one image")
    dims = placeholders[0].get("attr", {}).get("shape", {}).get("shape", {}).get("dim", [])
    input_shape = tuple(int(d.get("size", -1)) for d in dims)
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        shards = [path.with_name(p) for p in group["paths"]]
        for shard in shards:
            if not shard.is_file():
                raise TfjsImportError(f"{shard}: weight file named by {path.name} not found")
            digests[shard.name] = _checked_sha(shard, strict)
        buf = b"".join(s.read_bytes() for s in shards)
        offset = 0
        for spec in group["weights"]:
            name, shape = spec["name"], [int(s) for s in spec["shape"]]
            quant = spec.get("quantization")
            if quant is not None and quant.get("dtype") != "float16":
                raise TfjsImportError(f"{path}: weight '{name}' is quantised as {quant.get('dtype')}; "
                                      "this importer reads float16 only")
            stored = np.float16 if quant is not None else _DTYPES.get(spec["dtype"])
            if stored is None:
                raise TfjsImportError(f"{path}: weight '{name}' has dtype {spec['dtype']}, which this "
                                      "importer does not read (float32, int32, float16-quantised)")
            count = int(np.prod(shape)) if shape else 1
            size = count * np.dtype(stored).itemsize
            if offset + size > len(buf):
                raise TfjsImportError(f"{path}: weight '{name}' runs past the end of the weight data "
                                      f"({len(buf)} bytes): a shard is truncated")
            arr = np.frombuffer(buf, dtype=stored, count=count, offset=offset).reshape(shape)
            weights[name] = arr.astype(np.float32) if quant is not None else arr.copy()
            offset += size
        if offset != len(buf):
            raise TfjsImportError(f"{path}: the manifest accounts for {offset} bytes of "
                                  f"{len(buf)}: the weight files do not belong to this graph")
    return TfjsGraph(str(path), weights, nodes, input_shape, digests, str(model.get("generatedBy", "")))
