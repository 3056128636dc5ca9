"""export_friendly(): the LSRA text tower in XNNPACK-delegated operators gives the same embeddings."""
import copy

import pytest
import torch

from mobileclip import create_model
from mobileclip.models.lite_transformer import DecomposedLayerNorm, export_friendly

SOT, EOT = 49406, 49407


def _ids(length=77):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, SOT, (5, length), generator=g)
    ids[:, 0] = SOT
    ids[0, 5], ids[0, 6:] = EOT, 0  # open_clip padding
    ids[1, 10], ids[1, 11:] = EOT, EOT  # HF padding: repeated EOT, the first one counts
    ids[2, length - 1] = EOT  # full context
    ids[3, 20], ids[3, 30] = EOT, EOT  # two EOTs with text between
    return ids  # row 4: no EOT at all (pools position 0, like argmax of zeros)


@pytest.fixture(scope="module", params=["tiny-lsra-light", "tiny-lsra-dyn"])
def text(request):
    torch.manual_seed(0)
    text = create_model(request.param).text.eval()
    with torch.no_grad():
        for p in text.parameters():  # trained-like spread: softmax kernels and masks far from uniform
            p.normal_(0, 0.3)
    return text


@pytest.mark.parametrize("length", [77, 40])
@pytest.mark.parametrize("causal", [True, False])
def test_same_embeddings_as_training_form(text, length, causal):
    text = copy.deepcopy(text)
    text.causal = causal
    friendly = export_friendly(text)
    ids = _ids(length)
    with torch.no_grad():
        torch.testing.assert_close(friendly.forward_features(ids), text.forward_features(ids), atol=1e-5, rtol=0)
        torch.testing.assert_close(friendly(ids), text(ids), atol=1e-6, rtol=0)


def test_original_untouched_and_form_swapped(text):
    before = {k: v.clone() for k, v in text.state_dict().items()}
    friendly = export_friendly(text)
    assert not text.delegate_friendly and friendly.delegate_friendly
    assert isinstance(friendly.ln_final, DecomposedLayerNorm) and isinstance(text.ln_final, torch.nn.LayerNorm)
    assert all(torch.equal(before[k], v) for k, v in text.state_dict().items())


def test_decomposed_layer_norm_matches():
    norm = torch.nn.LayerNorm(24)
    with torch.no_grad():
        norm.weight.normal_(), norm.bias.normal_()
    x = torch.randn(3, 7, 24) * 5 + 2
    torch.testing.assert_close(DecomposedLayerNorm(norm)(x), norm(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="last dim"):
        DecomposedLayerNorm(torch.nn.LayerNorm((4, 6)))


@pytest.mark.parametrize("kernel_size", [3, 25, 26, 31, 60])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("length", [77, 9])
def test_long_lightweight_kernels_split_for_xnnpack(kernel_size, causal, length):
    """Kernels over 25 taps are split into depthwise parts of at most 25 taps (XNNPACK's depthwise limit)."""
    from mobileclip.models.lite_transformer import MAX_DWCONV_TAPS, LightweightConv

    torch.manual_seed(0)
    conv = LightweightConv(16, kernel_size, heads=4, causal=causal).eval()
    with torch.no_grad():
        conv.weight.normal_(0, 1.0), conv.bias.normal_()
    frozen = conv.frozen()
    assert len(frozen.parts) == -(-kernel_size // MAX_DWCONV_TAPS)
    assert all(taps <= MAX_DWCONV_TAPS for _, taps in frozen.parts)
    x = torch.randn(2, length, 16)
    with torch.no_grad():
        torch.testing.assert_close(frozen(x), conv(x), atol=1e-5, rtol=0)
