"""The semantic tokenizer: k-means over frame features, fitted on the
training split and saved as a versioned artifact (safetensors + JSON card)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.cluster import MiniBatchKMeans

from hiermusic.corpus.semantic_features import FEATURE_DIM, FEATURE_NAMES, frame_features


@dataclass
class TokenizerCard:
    tokenizer_id: str  # what the token-space contract carries
    clusters: int
    feature_names: list[str]
    fitted_on_frames: int
    fitted_on_songs: int
    inertia_per_frame: float
    seed: int


class SemanticTokenizer:
    def __init__(self, centroids: np.ndarray, mean: np.ndarray, std: np.ndarray, card: TokenizerCard) -> None:
        self.centroids = centroids.astype(np.float32)  # [K, D], in standardised units
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)  # [D]
        self.card = card

    @property
    def tokenizer_id(self) -> str:
        return self.card.tokenizer_id

    @classmethod
    def fit(cls, features: np.ndarray, songs: int, clusters: int = 512, seed: int = 0) -> "SemanticTokenizer":
        """features: float32 [N, D] frames from the training split."""
        if features.ndim != 2 or features.shape[1] != FEATURE_DIM:
            raise ValueError(f"features must be [N, {FEATURE_DIM}], got {list(features.shape)}")
        if len(features) < clusters:
            raise ValueError(f"{len(features)} frames cannot fit {clusters} clusters")
        mean, std = features.mean(axis=0), features.std(axis=0) + 1e-6
        z = (features - mean) / std
        kmeans = MiniBatchKMeans(n_clusters=clusters, random_state=seed, batch_size=4096, n_init=3, max_iter=100)
        kmeans.fit(z)
        centroids = kmeans.cluster_centers_.astype(np.float32)
        digest = hashlib.sha256(centroids.tobytes() + mean.tobytes() + std.tobytes()).hexdigest()[:8]
        card = TokenizerCard(
            tokenizer_id=f"feature-kmeans-{clusters}-{digest}",
            clusters=clusters,
            feature_names=list(FEATURE_NAMES),
            fitted_on_frames=len(features),
            fitted_on_songs=songs,
            inertia_per_frame=float(kmeans.inertia_ / len(features)),
            seed=seed,
        )
        return cls(centroids, mean, std, card)

    def assign(self, features: np.ndarray) -> np.ndarray:
        """int64 [T] nearest centroid of each frame of float32 [T, D]."""
        z = (features - self.mean) / self.std
        # |z - c|^2 = |z|^2 - 2 z.c + |c|^2; |z|^2 is the same for every centroid.
        scores = z @ self.centroids.T - 0.5 * (self.centroids**2).sum(axis=1)
        return scores.argmax(axis=1).astype(np.int64)

    def centroid_chroma(self) -> np.ndarray:
        """float32 [K, 12]: each token's chroma, its centroid's chroma features in their own units."""
        columns = [i for i, name in enumerate(self.card.feature_names) if name.startswith("chroma_")]
        return (self.centroids * self.std + self.mean)[:, columns]

    def tokenize(self, audio: np.ndarray) -> np.ndarray:
        return self.assign(frame_features(audio))

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({"centroids": self.centroids, "mean": self.mean, "std": self.std}, str(path))
        path.with_suffix(".json").write_text(json.dumps(asdict(self.card), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "SemanticTokenizer":
        tensors = load_file(str(path))
        card = TokenizerCard(**json.loads(Path(path).with_suffix(".json").read_text()))
        return cls(tensors["centroids"], tensors["mean"], tensors["std"], card)
