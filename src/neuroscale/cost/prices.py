"""The price table: what a vCPU-hour and a GiB-hour cost, and when a change is "expensive".

Defaults approximate on-demand cloud list prices; a team loads its own with
`--price-table FILE` (YAML or JSON, camelCase keys as in `PriceTable.from_mapping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from neuroscale import yamlio
from neuroscale.errors import InvalidInput

_MAX_NUMBER = Decimal(10**12)  # far above any real price; keeps the cost maths clear of overflow
_KEYS = {
    "currency": "currency",
    "cpuPerVcpuHour": "cpu_per_vcpu_hour",
    "memoryPerGibHour": "memory_per_gib_hour",
    "hoursPerMonth": "hours_per_month",
    "workloadDeltaThreshold": "workload_delta_threshold",
    "totalDeltaThreshold": "total_delta_threshold",
}


CENT = Decimal("0.01")


@dataclass(frozen=True)
class PriceTable:
    currency: str = "USD"
    cpu_per_vcpu_hour: Decimal = Decimal("0.0316")
    memory_per_gib_hour: Decimal = Decimal("0.0042")
    hours_per_month: Decimal = Decimal("730")
    workload_delta_threshold: Decimal = Decimal("100")  # flag a workload whose monthly cost rises more
    total_delta_threshold: Decimal = Decimal("500")  # flag a change whose total monthly cost rises more

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "") -> PriceTable:
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise InvalidInput(f"unknown price table key(s): {', '.join(unknown)}", where=where,
                               fix=f"use only {', '.join(_KEYS)}")
        values: dict[str, Any] = {}
        for key, attr in _KEYS.items():
            if key not in data:
                continue
            if attr == "currency":
                values[attr] = str(data[key])
                continue
            text = str(data[key])
            try:
                number = Decimal(text) if text.isascii() else Decimal("NaN")
            except InvalidOperation:
                number = Decimal("NaN")
            if not number.is_finite() or not 0 <= number <= _MAX_NUMBER:
                raise InvalidInput(f"{key} must be a number from 0 to {_MAX_NUMBER:,}, got {text[:40]!r}",
                                   where=where, fix="write prices as plain numbers, e.g. 0.0316")
            values[attr] = number
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read price table: {exc.strerror}", where=str(path),
                               fix="pass a readable YAML or JSON file") from None
        data = yamlio.load_one(text, where=str(path))
        if not isinstance(data, dict):
            raise InvalidInput("price table must be a mapping", where=str(path), fix="see `PriceTable` keys")
        return cls.from_mapping(data, where=str(path))

    def monthly(self, *, cpu_cores: Decimal, memory_bytes: Decimal, replicas: int) -> Decimal:
        """Monthly cost of `replicas` copies reserving `cpu_cores` and `memory_bytes` each."""
        gib = memory_bytes / Decimal(2**30)
        hourly = cpu_cores * self.cpu_per_vcpu_hour + gib * self.memory_per_gib_hour
        total = hourly * self.hours_per_month * replicas
        # Enough precision for the whole amount in cents: a manifest's replica count has no upper bound here.
        return total.quantize(CENT, context=Context(prec=max(28, total.adjusted() + 4)))

    def to_dict(self) -> dict[str, str]:
        return {key: str(getattr(self, attr)) for key, attr in _KEYS.items()}

