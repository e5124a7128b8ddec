"""The embedded engine's serving runtimes, chosen for a model exactly as KServe chooses a ServingRuntime.

KServe picks the runtime of a predictor from `modelFormat` {name, version}, the optional
`runtime` name and `protocolVersion`:

* a runtime supports a model when one of its `supportedModelFormats` has the model's name
  (case-insensitive) and, if the model names a version, exactly that version;
* it must list the model's protocol version (default `v1`);
* with `runtime` named, that runtime must support the model, or the InferenceService is refused;
* without it, only runtimes whose matching format has `autoSelect` qualify, highest `priority`
  first (runtimes without one after those with one).

`RUNTIMES` mirrors KServe's built-in ClusterServingRuntimes by name, restricted to what the
embedded model server really runs (every one of them is `python -m neuroscale.serving`); the
versions listed are the format versions our loaders read. Every runtime here also serves
`grpc-v2`, which the embedded model server speaks for every format. Pure data and functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from neuroscale.errors import InvalidInput

ALL_PROTOCOLS = ("v1", "v2", "grpc-v2")


@dataclass(frozen=True)
class SupportedFormat:
    name: str
    version: str | None = None
    auto_select: bool = True
    priority: int | None = 1


@dataclass(frozen=True)
class Runtime:
    """One runtime: the KServe name it stands in for and the formats it serves embedded."""

    name: str
    formats: tuple[SupportedFormat, ...]
    protocols: tuple[str, ...] = ALL_PROTOCOLS

    def supports(self, name: str, version: str | None) -> SupportedFormat | None:
        for fmt in self.formats:
            if fmt.name.lower() == name.lower() and (version is None or (fmt.version or "").lower() == version.lower()):
                return fmt
        return None

    def listing(self) -> str:
        return ", ".join(f"{f.name}:{f.version}" if f.version else f.name for f in self.formats)


def _versions(name: str, versions: tuple[str, ...], *, priority: int | None = 1,
              auto_select: bool = True) -> tuple[SupportedFormat, ...]:
    return tuple(SupportedFormat(name, v, auto_select, priority) for v in versions)


RUNTIMES: tuple[Runtime, ...] = (
    Runtime("kserve-sklearnserver", _versions("sklearn", ("1",))),
    Runtime("kserve-xgbserver", _versions("xgboost", ("1", "2", "3"))),
    Runtime("kserve-lgbserver", _versions("lightgbm", ("2", "3", "4"))),
    Runtime("kserve-mlserver", (*_versions("sklearn", ("0", "1"), priority=2),
                                *_versions("xgboost", ("1", "2"), priority=2),
                                *_versions("lightgbm", ("3", "4"), priority=2)), protocols=("v2", "grpc-v2")),
    Runtime("kserve-tritonserver", _versions("onnx", ("1",)), protocols=("v2", "grpc-v2")),
    Runtime("kserve-huggingfaceserver", _versions("huggingface", ("1",))),
)
BY_NAME = {runtime.name: runtime for runtime in RUNTIMES}
#: Formats some embedded runtime serves (what `--model-format` takes, besides `custom`).
SERVED_FORMATS: tuple[str, ...] = tuple(dict.fromkeys(f.name for r in RUNTIMES for f in r.formats))


@dataclass(frozen=True)
class Choice:
    runtime: Runtime
    model_format: str  # lower-case, as the model server takes it


def _label(name: str, version: str | None) -> str:
    return f"{name}:{version}" if version else name


def choose(name: str, version: str | None, *, runtime: str | None, protocol: str | None,
           where: str) -> Choice | None:
    """The runtime KServe's rules pick; None when `runtime` names one the embedded engine does not know.

    `InvalidInput` (with `where`) when no runtime can serve the model, or the named one cannot.
    """
    protocol = protocol or "v1"
    label = _label(name, version)
    if runtime:
        named = BY_NAME.get(runtime)
        if named is None:
            return None
        fmt = named.supports(name, version)
        if fmt is None:
            raise InvalidInput(f"runtime {runtime} does not support model format {label} (it serves "
                               f"{named.listing()})", where=where,
                               fix="change modelFormat, or name a runtime that serves it (or none)")
        if protocol not in named.protocols:
            raise InvalidInput(f"runtime {runtime} does not serve protocol {protocol} (it serves "
                               f"{', '.join(named.protocols)})", where=where,
                               fix="change protocolVersion, or name another runtime (or none)")
        return Choice(named, fmt.name.lower())
    candidates = []
    for candidate in RUNTIMES:
        fmt = candidate.supports(name, version)
        if fmt is not None and fmt.auto_select and protocol in candidate.protocols:
            candidates.append((fmt, candidate))
    if not candidates:
        served = "; ".join(f"{r.name}: {r.listing()}" for r in RUNTIMES)
        raise InvalidInput(f"no embedded runtime serves model format {label} with protocol {protocol} "
                           f"(runtimes: {served})", where=where,
                           fix="use a format and version listed, or serve this endpoint in cluster mode")
    candidates.sort(key=lambda pair: (pair[0].priority is None, -(pair[0].priority or 0)))
    fmt, chosen = candidates[0]
    return Choice(chosen, fmt.name.lower())
