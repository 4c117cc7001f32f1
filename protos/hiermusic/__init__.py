"""hiermusic: hierarchical text-to-music as a mesh of level services.

The one installed import name. Its subpackages are the repository's top
folders (pyproject.toml maps them): hiermusic.v1 is the contract generated
from protos/, hiermusic.services, .corpus, .orchestrator, .evaluation and
.cli the rooms of the same names, hiermusic.weights the bundled checkpoints."""
