"""Time and memory to refuse hostile YAML on every path that reads it (target: < 1 s, < 50 MB growth).

Each path runs in a fresh process so its peak RSS growth is its own: the
shared loader, `neuroscale check`'s parser, the pull-request checks, the
reconciler's admission, price tables, policy files and the CLI's
`--from-file`. Inputs: a 9-level alias bomb (9**9 leaves once expanded) and
50,000-deep flow nesting.

    .venv/bin/python bench/yaml_bombs.py
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEAD = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: bomb\n"


def alias_bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return HEAD + "\n".join(lines) + "\n"


INPUTS = {"alias bomb (9 levels)": alias_bomb(), "flow nesting 50,000 deep": "a: " + "[" * 50_000 + "]" * 50_000}


def _paths(text: str, scratch: Path) -> dict[str, Callable[[], Any]]:
    from neuroscale import yamlio
    from neuroscale.check.model import Limits
    from neuroscale.check.yamldocs import parse_file
    from neuroscale.cli.main import main
    from neuroscale.cost.prices import PriceTable
    from neuroscale.engine.desired import desired_state
    from neuroscale.engine.source import Artifact, artifact_digest
    from neuroscale.errors import InvalidInput
    from neuroscale.policy.repository import read_yaml_documents
    from neuroscale.services.pr_checks import parse_manifest_file

    file = scratch / "hostile.yaml"
    file.write_text(text)
    files = {"apps/bomb/inference-service.yaml": text.encode()}

    def refused(call: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            try:
                return call()
            except InvalidInput as exc:
                return exc.message
        return run

    return {
        "shared loader": refused(lambda: yamlio.load_all(text, where="hostile.yaml")),
        "check": lambda: parse_file("hostile.yaml", text.encode(), limits=Limits()),
        "pull-request checks": lambda: parse_manifest_file("apps/bomb/inference-service.yaml", text.encode()),
        "reconciler admission": lambda: desired_state(Artifact("c" * 40, artifact_digest(files), files)),
        "price table": refused(lambda: PriceTable.load(file)),
        "policy file": refused(lambda: read_yaml_documents(file)),
        "CLI --from-file": lambda: main(["endpoint", "create", "--from-file", str(file), "--home",
                                         str(scratch / "home")]),
    }


def child(input_name: str, path_name: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        call = _paths(INPUTS[input_name], Path(scratch))[path_name]
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        call()
        seconds = time.perf_counter() - started
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"seconds": seconds, "rss_growth_mb": grown / 1024}))


def main() -> int:
    names = list(_paths("", Path(tempfile.gettempdir())).keys())
    print(f"| input | path | seconds | peak RSS growth (MB) |\n| --- | --- | ---: | ---: |")
    worst = 0.0
    for input_name in INPUTS:
        for path_name in names:
            out = subprocess.run([sys.executable, __file__, "--child", input_name, path_name],
                                 capture_output=True, text=True, timeout=300)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            worst = max(worst, result["seconds"])
            print(f"| {input_name} | {path_name} | {result['seconds']:.3f} | {result['rss_growth_mb']:.1f} |",
                  flush=True)
    print(f"\nworst: {worst:.3f} s (target < 1 s, < 50 MB)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit(main())
