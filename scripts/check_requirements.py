"""Exit 0 when every requirement in the given file is installed at its pinned version."""

import sys
from importlib import metadata

missing = []
for line in open(sys.argv[1]):
    requirement = line.split("#")[0].strip()
    if not requirement:
        continue
    name, _, version = requirement.partition("==")
    try:
        if metadata.version(name) != version:
            missing.append(requirement)
    except metadata.PackageNotFoundError:
        missing.append(requirement)
if missing:
    print("missing:", " ".join(missing), file=sys.stderr)
sys.exit(1 if missing else 0)
