"""Every kustomization under a directory names files (or directories) that exist, and every
patch names a resource some manifest of its bases defines (kustomize itself is not installed
on a fresh machine; these are the mistakes `kubectl apply -k` would refuse).

    kustomizations.py deploy/kubernetes
"""

import os
import sys

from ruamel.yaml import YAML


def documents(path):
    return [doc for doc in YAML(typ="safe").load_all(open(path)) if doc]


def defined(directory):
    """(kind, name) of every resource a kustomization directory builds."""
    found = set()
    kustomization = documents(os.path.join(directory, "kustomization.yaml"))[0]
    for entry in kustomization.get("resources", []):
        path = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(path):
            found |= defined(path)
        else:
            found |= {(d["kind"], d["metadata"]["name"]) for d in documents(path)}
    return found


def main(root):
    failures = []
    for directory, _, files in os.walk(root):
        if "kustomization.yaml" not in files:
            continue
        kustomization = documents(os.path.join(directory, "kustomization.yaml"))[0]
        for entry in kustomization.get("resources", []):
            if not os.path.exists(os.path.join(directory, entry)):
                failures.append(f"{directory}: resource {entry} does not exist")
        bases = defined(directory)
        for patch in kustomization.get("patches", []):
            path = os.path.join(directory, patch["path"])
            if not os.path.exists(path):
                failures.append(f"{directory}: patch {patch['path']} does not exist")
                continue
            for doc in documents(path):
                target = (doc["kind"], doc["metadata"]["name"])
                if target not in bases:
                    failures.append(f"{path}: patches {target}, which no base defines")
        print(f"ok {directory}: {len(bases)} resources")
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main(sys.argv[1])
