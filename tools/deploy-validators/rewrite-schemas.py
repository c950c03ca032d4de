"""Extracts Kubernetes' JSON schemas from a kubernetes-validate wheel into a directory kubeconform
reads offline: <out>/v<version>-local-strict/<kind>-<group>-<version>.json, as kubeconform's
-schema-location template names them.

The wheel's schemas declare an https://kubernetes.io/... $id and refer to their shared
definitions as /api/_definitions.json, which a JSON-schema loader would resolve to a URL and try
to download. Dropping the $id and making that reference relative (_definitions.json, beside each
schema) resolves it to the local file; nothing else in a schema changes.

usage: rewrite-schemas.py WHEEL OUT_DIR KUBERNETES_VERSION...
"""

import json
import sys
import zipfile
from pathlib import PurePosixPath, Path

PREFIX = "kubernetes_validate/kubernetes-json-schema/"


def localise(node):
    if isinstance(node, dict):
        return {
            # A property may be named "$ref" too (CRD schemas describe JSON schemas): only strings are references.
            key: (
                value.replace("/api/_definitions.json#", "_definitions.json#", 1)
                if key == "$ref" and isinstance(value, str)
                else localise(value)
            )
            for key, value in node.items()
            if key != "$id"
        }
    if isinstance(node, list):
        return [localise(item) for item in node]
    return node


def main(wheel: str, out: str, versions: list[str]) -> None:
    wanted = {f"v{version}-local-strict" for version in versions}
    written = {name: 0 for name in wanted}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.startswith(PREFIX) or not name.endswith(".json"):
                continue
            relative = PurePosixPath(name[len(PREFIX) :])
            if relative.parts[0] not in wanted:
                continue
            target = Path(out, *relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(localise(json.loads(archive.read(name)))))
            written[relative.parts[0]] += 1
    missing = [name for name, count in written.items() if count == 0]
    if missing:
        sys.exit(f"{wheel} has no schemas for {', '.join(sorted(missing))}")
    for name, count in sorted(written.items()):
        print(f"{name}: {count} schemas")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
