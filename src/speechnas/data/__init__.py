"""Speech data: canonical manifests, corpus readers, audio decoding, splits and batching."""

from __future__ import annotations

from speechnas.data.manifest import Utterance, read_manifest, write_manifest

__all__ = ["Utterance", "read_manifest", "write_manifest"]
