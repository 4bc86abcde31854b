"""``viewfinder models``: model roles, which weights are installed, how to install the rest."""

from __future__ import annotations

import argparse
import json


def run_models(args: argparse.Namespace) -> int:
    from ..models import model_status

    rows = model_status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for role in dict.fromkeys(r["role"] for r in rows):
        print(f"{role}:")
        for r in (r for r in rows if r["role"] == role):
            if r["path"]:
                print(f"  [installed] {r['name']}: {r['description']}")
                print(f"      path:   {r['path']}")
                if r["sha256"]:
                    print(f"      sha256: {r['sha256']}")
            else:
                print(f"  [missing]   {r['name']}: {r['description']}")
                print(f"      install: {r['install']}")
    return 0
