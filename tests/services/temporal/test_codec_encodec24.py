from __future__ import annotations

from pathlib import Path

import pytest
import torch
from encodec import EncodecModel

from hiermusic.services.common.plugins import load_plugin
from hiermusic.services.temporal.codec import quiet_weight_norm
from hiermusic.services.temporal.codec_encodec24 import Encodec24Codec

CPU = torch.device("cpu")


def test_missing_checkpoint_says_weights_must_be_local() -> None:
    assert load_plugin("codec", "encodec_24khz") is Encodec24Codec
    with pytest.raises(ValueError, match="local file"):
        Encodec24Codec(None, CPU)
    with pytest.raises(FileNotFoundError):
        Encodec24Codec(Path("/nonexistent/encodec_24khz.th"), CPU)


def test_loads_a_local_state_dict_and_round_trips_shapes(tmp_path: Path) -> None:
    path = tmp_path / "encodec_24khz.th"
    with quiet_weight_norm():
        torch.save(EncodecModel.encodec_model_24khz(pretrained=False).state_dict(), path)
    codec = Encodec24Codec(path, CPU)
    assert (codec.codec_id, codec.sample_rate, codec.frame_rate, codec.hop_length) == ("encodec_24khz", 24000, 75.0, 320)
    assert (codec.codebooks, codec.codebook_size) == (8, 1024)
    assert codec.digest[:8] in codec.version
    codes = codec.encode(0.1 * torch.randn(1, 1, 24000))
    assert codes.shape == (1, 8, 75)
    assert codec.decode(codes).shape == (1, 1, 24000)
    one_hot = torch.nn.functional.one_hot(codes[:, 2:], 1024).float()
    assert torch.allclose(codec.decode_expected(codes[:, :2], one_hot), codec.decode(codes), atol=1e-5)
    assert codec.codebook_vectors().shape == (8, 1024, 128)  # the 8 levels it uses of the model's 32
