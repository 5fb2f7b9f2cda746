"""Write the settings a validation chose for one method into a prior file's record
(``distill_defaults``, read by ``latentdd distill`` when the user sets none; priors/recommended.py).

The weights are copied unchanged (their sha256 in the file stays valid); only the record changes, and
the file is replaced atomically.  ``--evidence`` says which validation chose the values, so a reader of
the record can find the figures:

    python bench/record_recommendation.py src/latentdd/priors/builtin/cifar10-ae.safetensors --method dc \\
        --set layer=1 --set lr_feat=0.1 --evidence "BENCHMARKS.md, issue 16: validate_cifar10_dc_dsa.json"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import save_file

from latentdd.fileio import atomic_write, read_safetensors
from latentdd.priors.recommended import RECOMMENDABLE


def parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prior", type=Path, help="a latentdd prior file (.safetensors)")
    ap.add_argument("--method", required=True, choices=["dc", "dsa", "dm", "mtt"])
    ap.add_argument("--set", dest="pairs", action="append", required=True, metavar="KEY=VALUE")
    ap.add_argument("--evidence", required=True, help="where the validation that chose these values is")
    args = ap.parse_args()
    values = {}
    for pair in args.pairs:
        key, _, text = pair.partition("=")
        if key not in RECOMMENDABLE:
            raise SystemExit(f"--set {key}: a recommendation may set only {', '.join(RECOMMENDABLE)}")
        values[key] = parse_value(text)
    state, metadata = read_safetensors(args.prior, f"{args.prior} is not a readable prior file")
    metadata = dict(metadata)
    record = json.loads(metadata.get("record", "{}"))
    record.setdefault("distill_defaults", {})[args.method] = values
    record.setdefault("distill_defaults_evidence", {})[args.method] = args.evidence
    metadata["record"] = json.dumps(record, sort_keys=True)
    atomic_write(args.prior, lambda tmp: save_file(state, tmp, metadata=metadata))
    print(f"{args.prior}: {args.method} -> {values}")


if __name__ == "__main__":
    main()
