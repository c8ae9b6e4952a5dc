"""HyenaLM: shapes, hidden states, config handling, filter variants, cache invalidation."""

from __future__ import annotations

import json

import pytest
import torch

from dnaconv.config import HyenaConfig, config_from_dict, load_config
from dnaconv.errors import ConfigError
from dnaconv.models.hyena import HyenaLM
from tests.helpers import strong_model, tiny_config

small_config = tiny_config


def test_forward_shapes_and_hidden_states():
    torch.manual_seed(0)
    model = HyenaLM(small_config()).eval()
    tokens = torch.randint(0, 5, (3, 50))
    with torch.no_grad():
        logits, hs = model(tokens, output_hidden_states=True)
        assert logits.shape == (3, 50, 8)
        assert len(hs) == 3
        for i in range(3):
            torch.testing.assert_close(model.hidden(tokens, i), hs[i])
            torch.testing.assert_close(model.hidden(tokens, i - 3), hs[i])
    with pytest.raises(ValueError, match="out of range"):
        model.hidden(tokens, 3)


def test_causal():
    torch.manual_seed(1)
    model = HyenaLM(small_config()).eval()
    a = torch.randint(0, 5, (1, 80))
    b = a.clone()
    b[0, 60:] = (b[0, 60:] + 1) % 4
    with torch.no_grad():
        ha, hb = model.hidden(a), model.hidden(b)
    torch.testing.assert_close(ha[:, :60], hb[:, :60])
    assert not torch.allclose(ha[:, 60:], hb[:, 60:])


def test_partial_convolution_limits_context():
    """An output sees at most receptive_field - 1 positions back: changing a base further away has no effect."""
    torch.manual_seed(2)
    cfg = small_config(filter_len=8, n_layer=2, explicit_filter=True)
    model = strong_model(cfg, undecayed=True)  # so the edge of the receptive field is visible
    rf = cfg.receptive_field
    a = torch.randint(0, 4, (1, rf + 20))
    b = a.clone()
    b[0, 0] = (b[0, 0] + 1) % 4
    with torch.no_grad():
        ha, hb = model.hidden(a), model.hidden(b)
    assert (ha[:, rf - 1] - hb[:, rf - 1]).abs().max() > 1e-3
    torch.testing.assert_close(ha[:, rf:], hb[:, rf:], rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "kw", [dict(filter_heads=4), dict(explicit_filter=True)], ids=["multihyena", "explicit"]
)
def test_filter_variants(kw):
    model = HyenaLM(small_config(**kw))
    k = model.blocks[0].mixer.filter()
    assert k.shape == (24, 32)
    if kw.get("filter_heads"):
        assert torch.equal(k[0], k[5]) and not torch.equal(k[0], k[6])
    loss = model(torch.randint(0, 5, (2, 40))).sum()
    loss.backward()


def test_filter_cache_follows_weights():
    torch.manual_seed(3)
    model = HyenaLM(small_config()).eval()
    tokens = torch.randint(0, 5, (1, 40))
    with torch.no_grad():
        before = model.hidden(tokens)
        other = HyenaLM(small_config())
        model.load_state_dict(other.state_dict())
        after = model.hidden(tokens)
        torch.testing.assert_close(after, other.eval().hidden(tokens))
    assert not torch.allclose(before, after)


def test_config_roundtrip_and_unknown_field(tmp_path):
    cfg = small_config(filter_heads=4)
    cfg.save(tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == cfg
    with pytest.raises(ConfigError, match="unknown config field 'd_modle'"):
        config_from_dict({"d_modle": 3})
    with pytest.raises(ConfigError, match="filter_heads"):
        HyenaConfig(d_model=10, filter_heads=3)
    (tmp_path / "bad.json").write_text(json.dumps([1, 2]))
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(tmp_path / "bad.json")


def test_freq_fraction_switches_every_long_convolution():
    """set_freq_fraction(f) runs the frequency-sparse op (the blocked reference on CPU) in every layer and drops
    cached spectra; f = 1 is the exact model again."""
    from dnaconv.kernels.fftconv import fft_plan, naive_fftconv_blocked

    torch.manual_seed(4)
    model = HyenaLM(small_config()).eval()
    tokens = torch.randint(0, 4, (1, 600))
    with torch.no_grad():
        exact = model.hidden(tokens)
        model.set_freq_fraction(0.5)
        sparse = model.hidden(tokens)
        # the first layer's long convolution, by hand
        op = model.blocks[0].mixer
        seen = {}
        hook = op.register_forward_hook(lambda m, i, o: seen.update(x=i[0]))
        model.hidden(tokens)
        hook.remove()
        model.set_freq_fraction(1.0)
        again = model.hidden(tokens)
    assert all(m.freq_fraction == 1.0 for m in model.modules() if hasattr(m, "freq_fraction"))
    with pytest.raises(ValueError, match="must be in"):
        model.set_freq_fraction(0)
    torch.testing.assert_close(again, exact, rtol=0, atol=0)
    assert (sparse - exact).norm() > 1e-5 * exact.norm()  # small: the tiny model's filters are smooth
    # the sparse model's layer equals the blocked reference at the plan's block size
    from dnaconv.kernels.shortconv import shortconv

    x = seen["x"]
    z = op.in_proj(x).transpose(1, 2)
    x1, x2, v = shortconv(z, op.short_weight, op.short_bias).split(op.d, dim=1)
    n = fft_plan(600, op.K, 0, 0.5).n
    y = naive_fftconv_blocked(v, op.filter(), op.bias, x1, x2, n_fft=n, freq_fraction=0.5)
    model.set_freq_fraction(0.5)
    with torch.no_grad():
        torch.testing.assert_close(op(x), op.out_proj(y.transpose(1, 2)))
