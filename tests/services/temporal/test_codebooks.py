from __future__ import annotations

import pytest
import torch
from encodec.quantization import ResidualVectorQuantizer

from hiermusic.services.temporal.codebooks import DeadCodeRestarts, kmeans, kmeans_init


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)


def test_kmeans_finds_separated_clusters() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = (centres[:, None] + 0.1 * torch.randn(3, 100, 2, generator=g)).reshape(-1, 2)  # [300, 2]
    means, counts = kmeans(samples, 3, 10, torch.Generator().manual_seed(1))
    found = means[torch.cdist(centres, means).argmin(dim=1)]
    assert torch.allclose(found, centres, atol=0.05)
    assert sorted(counts.tolist()) == [100, 100, 100]


def test_every_level_starts_from_its_residual_and_each_level_refines() -> None:
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(dimension=8, n_q=4, bins=16, kmeans_init=True)
    latent = torch.randn(4, 8, 50)  # [B, D, T]: 200 frames for 16 codes
    kmeans_init(quantizer, latent, 10, torch.Generator().manual_seed(0))
    books = [layer._codebook for layer in quantizer.vq.layers]
    assert all(bool(b.inited) for b in books)
    for b in books:  # the EMA state agrees with the codes, so the next update does not drag them
        assert torch.allclose(b.embed_avg / b.cluster_size[:, None], b.embed, atol=1e-6)
    errors = [float((quantizer.decode(quantizer.encode(latent, 50)[:k]) - latent).square().mean()) for k in range(1, 5)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.6 * float(latent.square().mean())

    before = books[0].embed.clone()
    quantizer.train()(latent, 50)  # the package's own k-means would replace the codebooks here
    assert (books[0].embed - before).abs().max() < 0.05


def test_codes_no_frame_picks_restart_on_frames_of_the_batch() -> None:
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(dimension=8, n_q=2, bins=16, kmeans_init=True).train()
    restarts = DeadCodeRestarts(quantizer, below=0.5)
    latent = torch.randn(2, 8, 20)  # [B, D, T]
    kmeans_init(quantizer, latent, 5, torch.Generator().manual_seed(0))
    book = quantizer.vq.layers[0]._codebook
    book.embed[3:] = 100.0  # far from every frame: no frame picks them
    book.cluster_size[3:] = 0.0
    quantizer(latent, 50)  # a training pass, through the first level only
    assert restarts.restart(torch.Generator().manual_seed(0)) == 13
    frames = latent.transpose(1, 2).reshape(-1, 8)  # [40, D]
    for code in range(3, 16):  # each dead code now sits on a frame of the batch
        assert (frames - book.embed[code]).abs().amax(dim=1).min() == 0
    assert torch.all(book.cluster_size[3:] == 1.0) and torch.allclose(book.embed_avg[3:], book.embed[3:])
    assert restarts.restart(torch.Generator().manual_seed(0)) == 0  # nothing passed through since


def test_the_package_alone_leaves_dead_codes_dead() -> None:
    """Why DeadCodeRestarts exists: encodec's own expiry is overwritten by its EMA update."""
    torch.manual_seed(0)
    quantizer = ResidualVectorQuantizer(dimension=8, n_q=1, bins=16, kmeans_init=False,
                                        threshold_ema_dead_code=2).train()
    book = quantizer.vq.layers[0]._codebook
    book.embed[3:] = 100.0
    book.embed_avg[3:] = 100.0
    book.cluster_size.fill_(1.0)
    for _ in range(5):
        quantizer(torch.randn(2, 8, 20), 50)
    assert (book.embed[3:] > 50).all()
