"""Lite Transformer text tower with Long-Short Range Attention (Wu et al., ICLR 2020).

Each block is pre-norm and has two sub-layers:

* **LSRA** -- the normalised input is split along channels. One half goes through multi-head
  self-attention (global context); the other half through a convolution branch
  (Linear -> GLU -> lightweight or dynamic convolution -> Linear) that models local context. The two
  outputs are concatenated back to full width.
* **Flattened FFN** -- a narrow feed-forward layer (hidden = ``ffn_ratio`` x width, 1.0 by default
  instead of the usual 4.0), since LSRA already carries much of the computation.

Lightweight convolution (Wu et al., 2019): depthwise, one kernel per head shared by all the channels
of that head, softmax-normalised over its taps. Dynamic convolution: the same, but the kernel is
predicted from the current position's features. Kernel sizes grow with depth (config value).

Padding: the end-of-text token (EOT) marks where the text ends; positions after it are padding.
Attention never attends to padding keys and the convolution branch zeroes padded positions before
convolving, so appending padding never changes any embedding. With ``causal`` (CLIP's choice) both
branches only look backwards. The tower pools at the EOT position like CLIP.
"""
from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


class LightweightConv(nn.Module):
    """Depthwise conv over time, ``heads`` softmax-normalised kernels shared across channel groups."""

    def __init__(self, channels: int, kernel_size: int, heads: int, causal: bool, weight_dropout: float = 0.0):
        super().__init__()
        if channels % heads:
            raise ValueError(f"conv channels {channels} not divisible by conv heads {heads}")
        self.channels, self.kernel_size, self.heads, self.causal = channels, kernel_size, heads, causal
        self.weight = nn.Parameter(torch.empty(heads, kernel_size))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.weight_dropout = weight_dropout
        nn.init.xavier_uniform_(self.weight)

    def _padding(self) -> tuple[int, int]:
        k = self.kernel_size
        return (k - 1, 0) if self.causal else (k // 2, k - 1 - k // 2)

    def kernel(self, training: bool | None = None) -> torch.Tensor:
        """The depthwise kernel (C, 1, K): softmax over taps, DropConnect in training, shared per head."""
        training = self.training if training is None else training
        w = F.dropout(F.softmax(self.weight, dim=-1), self.weight_dropout, training)
        return w.repeat_interleave(self.channels // self.heads, dim=0).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, C)
        return _depthwise_conv(x, self.kernel(), self._padding(), self.bias)

    def frozen(self) -> nn.Module:
        """Inference copy with the normalised kernel precomputed (a constant depthwise conv)."""
        return FrozenLightweightConv(self)


MAX_DWCONV_TAPS = 25  # the longest depthwise kernel XNNPACK runs with its depthwise micro-kernels


def _depthwise_conv(x: torch.Tensor, kernel: torch.Tensor, padding: tuple[int, int], bias: torch.Tensor):
    y = F.conv1d(F.pad(x.transpose(1, 2), padding), kernel, groups=x.shape[-1])
    return y.transpose(1, 2) + bias


class FrozenLightweightConv(nn.Module):
    """:class:`LightweightConv` at inference: its kernel constant, so XNNPACK runs the conv.

    A kernel of more than :data:`MAX_DWCONV_TAPS` taps is split into parts of at most that many taps (the sum
    of depthwise convs over shifted windows of the padded input; each part's kernel is its own constant):
    XNNPACK has depthwise micro-kernels up to 25 taps and runs a longer one as a generic grouped convolution,
    3-6x slower (k=31: 0.14 ms vs 0.05 ms for 25+6 at width 128, 77 tokens, 1 thread).
    """

    def __init__(self, conv: LightweightConv):
        super().__init__()
        with torch.no_grad():
            kernel = conv.kernel(training=False).detach()
        self.bias, self.padding = conv.bias, conv._padding()
        self.parts = []  # (first tap, taps)
        for i, start in enumerate(range(0, conv.kernel_size, MAX_DWCONV_TAPS)):
            taps = min(MAX_DWCONV_TAPS, conv.kernel_size - start)
            self.register_buffer(f"weight{i}", kernel[..., start : start + taps].clone())
            self.parts.append((start, taps))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, C)
        length, c = x.shape[1], x.shape[2]
        xp = F.pad(x, (0, 0) + self.padding)  # (B, L + K - 1, C)
        y = None
        for i, (start, taps) in enumerate(self.parts):
            window = xp if len(self.parts) == 1 else xp[:, start : start + length + taps - 1]
            part = F.conv1d(window.transpose(1, 2), getattr(self, f"weight{i}"), groups=c)
            y = part if y is None else y + part
        return y.transpose(1, 2) + self.bias


class DynamicConv(LightweightConv):
    """Lightweight conv whose per-head kernels are predicted from each position's input."""

    def __init__(self, channels: int, kernel_size: int, heads: int, causal: bool, weight_dropout: float = 0.0):
        super().__init__(channels, kernel_size, heads, causal, weight_dropout)
        del self.weight
        self.kernel_proj = nn.Linear(channels, heads * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, C)
        b, length, c = x.shape
        k, h = self.kernel_size, self.heads
        w = F.softmax(self.kernel_proj(x).view(b, length, h, k), dim=-1)
        w = F.dropout(w, self.weight_dropout, self.training)
        xp = F.pad(x, (0, 0) + self._padding())  # pad time dimension
        # window[b, t, c, j] = xp[b, t + j, c]; built from K slices (export-friendly, no unfold)
        windows = torch.stack([xp[:, j : j + length] for j in range(k)], dim=-1)  # (B, L, C, K)
        windows = windows.view(b, length, h, c // h, k)
        y = (windows * w.unsqueeze(3)).sum(-1).reshape(b, length, c)
        return y + self.bias

    def frozen(self) -> nn.Module:
        return SlicedDynamicConv(self)


class SlicedDynamicConv(nn.Module):
    """:class:`DynamicConv` at inference as K slice-multiply-adds (no stack or sum: XNNPACK has neither)."""

    def __init__(self, conv: DynamicConv):
        super().__init__()
        self.kernel_proj, self.bias = conv.kernel_proj, conv.bias
        self.kernel_size, self.heads, self.padding = conv.kernel_size, conv.heads, conv._padding()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, C)
        b, length, c = x.shape
        k, h = self.kernel_size, self.heads
        w = F.softmax(self.kernel_proj(x).view(b, length, h, k), dim=-1)
        xp = F.pad(x, (0, 0) + self.padding).view(b, length + k - 1, h, c // h)
        y = xp[:, 0:length] * w[..., 0:1]
        for j in range(1, k):
            y = y + xp[:, j : j + length] * w[..., j : j + 1]
        return y.reshape(b, length, c) + self.bias


def _mean_last(x: torch.Tensor, averager: torch.Tensor) -> torch.Tensor:
    """Mean over the last dim, keepdim, as a product with the constant column ``averager`` (C, 1) = 1/C: XNNPACK
    runs it as one small fully-connected op, 3-4x faster than its mean-reduction op on (77, C)."""
    return x @ averager


def _averager(width: int, like: torch.Tensor) -> torch.Tensor:
    return torch.full((width, 1), 1.0 / width, dtype=like.dtype, device=like.device)


class DecomposedLayerNorm(nn.Module):
    """An ``nn.LayerNorm`` over the last dim written with mean (:func:`_mean_last`), subtract, rsqrt: XNNPACK ops."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        if len(norm.normalized_shape) != 1 or norm.weight is None or norm.bias is None:
            raise ValueError("DecomposedLayerNorm supports an affine LayerNorm over the last dim only")
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps
        self.register_buffer("averager", _averager(norm.normalized_shape[0], norm.weight), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xc = x - _mean_last(x, self.averager)
        return xc * torch.rsqrt(_mean_last(xc * xc, self.averager) + self.eps) * self.weight + self.bias


class SelfAttention(nn.Module):
    """Multi-head self-attention written out (export-friendly), additive mask (0 allowed, -inf not)."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # mask: (B or 1, 1, L, L)
        b, length, c = x.shape
        h, d = self.heads, c // self.heads
        qkv = self.qkv(x)

        def heads(i):  # slice i of q|k|v -> (B*H, L, d); 3-D products need no broadcast (expand) op
            return qkv[..., i * c : (i + 1) * c].reshape(b, length, h, d).permute(0, 2, 1, 3).reshape(b * h, length, d)

        q, k, v = heads(0), heads(1), heads(2)
        scores = torch.bmm(q, k.transpose(1, 2)) * (1.0 / math.sqrt(d))
        scores = (scores.view(b, h, length, length) + mask).view(b * h, length, length)
        attn = F.dropout(scores.softmax(-1), self.dropout, self.training)
        out = torch.bmm(attn, v).view(b, h, length, d).permute(0, 2, 1, 3).reshape(b, length, c)
        return self.out(out)


class LSRABlock(nn.Module):
    def __init__(self, width: int, heads: int, conv_type: str, conv_heads: int, kernel_size: int,
                 ffn_ratio: float, causal: bool, dropout: float, weight_dropout: float):
        super().__init__()
        half = width // 2
        self.norm1 = nn.LayerNorm(width)
        self.attn = SelfAttention(half, heads, dropout)
        conv_cls = {"lightweight": LightweightConv, "dynamic": DynamicConv}[conv_type]
        self.conv_in = nn.Linear(width - half, 2 * (width - half))  # followed by GLU
        self.conv = conv_cls(width - half, kernel_size, conv_heads, causal, weight_dropout)
        self.conv_out = nn.Linear(width - half, width - half)
        self.norm2 = nn.LayerNorm(width)
        hidden = max(1, int(round(width * ffn_ratio)))
        self.ffn = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.half = half
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        global_branch = self.attn(h[..., : self.half], mask)
        local = F.glu(self.conv_in(h[..., self.half :]), dim=-1) * keep  # zero padding before the conv
        local_branch = self.conv_out(self.conv(local))
        x = x + self.dropout(torch.cat([global_branch, local_branch], dim=-1))
        return x + self.dropout(self.ffn(self.norm2(x)))


class LiteTransformerText(nn.Module):
    """Token ids (B, L<=context_length) -> L2-normalised text embeddings (B, embed_dim)."""

    def __init__(self, embed_dim: int, vocab_size: int, context_length: int, width: int, layers: int, heads: int,
                 conv_type: str = "lightweight", conv_heads: int = 4, kernel_sizes=None, ffn_ratio: float = 1.0,
                 causal: bool = True, dropout: float = 0.0, weight_dropout: float = 0.0, eot_token_id: int = 49407,
                 arch: str = "lite_transformer"):
        super().__init__()
        if conv_type not in ("lightweight", "dynamic"):
            raise ValueError(f"conv_type must be 'lightweight' or 'dynamic', got {conv_type!r}")
        kernel_sizes = list(kernel_sizes or [3] * layers)
        if len(kernel_sizes) != layers:
            raise ValueError(f"kernel_sizes has {len(kernel_sizes)} entries for {layers} layers")
        self.context_length, self.eot_token_id, self.causal = context_length, eot_token_id, causal
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.blocks = nn.ModuleList(
            LSRABlock(width, heads, conv_type, conv_heads, k, ffn_ratio, causal, dropout, weight_dropout)
            for k in kernel_sizes
        )
        self.ln_final = nn.LayerNorm(width)
        self.projection = nn.Linear(width, embed_dim, bias=False)
        self.register_buffer("causal_mask", torch.ones(context_length, context_length).tril().bool(), persistent=False)
        self.delegate_friendly = False  # set by export_friendly()
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.projection.weight, std=width**-0.5)

    def eot_positions(self, ids: torch.Tensor) -> torch.Tensor:
        """Index of the first end-of-text token in each row (CLIP pools there)."""
        return (ids == self.eot_token_id).to(torch.int32).argmax(dim=-1)

    def forward_features(self, ids: torch.Tensor) -> torch.Tensor:
        """Pooled (pre-projection) features at the EOT token, shape (B, width)."""
        length = ids.shape[1]
        if length > self.context_length:
            raise ValueError(f"text has {length} tokens, the model's context is {self.context_length}")
        if self.delegate_friendly:
            mask, keep, select = self._float_masks(ids)
        else:
            mask, keep, eot = self._index_masks(ids)
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        for block in self.blocks:
            x = block(x, mask, keep)
        x = self.ln_final(x)
        if self.delegate_friendly:
            return torch.bmm(select, x).reshape(x.shape[0], x.shape[2])  # one-hot row selector
        return x[torch.arange(x.shape[0], device=x.device), eot]

    def _index_masks(self, ids: torch.Tensor):
        """Additive attention mask (B, 1, L, L), keep (B, L, 1) and EOT index (B,), by index arithmetic."""
        length = ids.shape[1]
        eot = self.eot_positions(ids)
        pos = torch.arange(length, device=ids.device)
        keep_bool = pos.unsqueeze(0) <= eot.unsqueeze(1)  # (B, L): text, not padding
        allowed = keep_bool.unsqueeze(1).unsqueeze(1)  # (B, 1, 1, L) keys
        if self.causal:
            allowed = allowed & self.causal_mask[:length, :length]
        mask = torch.zeros(allowed.shape, dtype=self.positional_embedding.dtype, device=ids.device)
        mask = mask.masked_fill(~allowed, float("-inf"))
        return mask, keep_bool.unsqueeze(-1).to(self.positional_embedding.dtype), eot

    def _float_masks(self, ids: torch.Tensor):
        """The same masks from float arithmetic and constant matmuls (see :func:`export_friendly`);
        the EOT index becomes a one-hot row selector (B, 1, L)."""
        b, length = ids.shape
        idf = ids.to(torch.float32).reshape(b, 1, length)  # ids < 2**24 are exact in fp32
        is_eot = 1.0 - (idf - float(self.eot_token_id)).abs().clamp(max=1.0)
        full = length == self.context_length  # (slicing a whole buffer would leave a non-constant alias)
        before = self.strictly_before if full else self.strictly_before[:length, :length]  # [s, t] = 1: s < t
        first = is_eot * (1.0 - is_eot @ before).clamp(min=0.0)  # the first EOT only; zeros if none
        ones, first_position = (self.ones_column, self.first_position) if full else (
            self.ones_column[:length], self.first_position[:, :length])
        select = first + first_position * (1.0 - first @ ones)
        keep = 1.0 - select @ before  # (B, 1, L): 1 up to the EOT, 0 after
        mask = ((1.0 - keep) * torch.finfo(torch.float32).min).reshape(b, 1, 1, length)
        if self.causal:
            mask = mask + (self.causal_bias if full else self.causal_bias[:length, :length])
        return mask, keep.reshape(b, length, 1), select

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.projection(self.forward_features(ids))
        if self.delegate_friendly:  # F.normalize without pow/sum (XNNPACK has neither)
            return x / torch.sqrt(_mean_last(x * x, self.output_averager) * float(x.shape[-1])).clamp(min=1e-12)
        return F.normalize(x, dim=-1)


def export_friendly(text: LiteTransformerText) -> LiteTransformerText:
    """An inference copy of ``text`` written in operators the ExecuTorch XNNPACK partitioner delegates.

    Same outputs (to float rounding) for the same ids: LayerNorm decomposed (:class:`DecomposedLayerNorm`),
    lightweight kernels precomputed (:class:`FrozenLightweightConv`), dynamic convolution as slice-multiply-adds
    (:class:`SlicedDynamicConv`), masks and EOT pooling from float arithmetic on the ids and constant 0/1
    matrices instead of ``argmax``/comparisons/indexing. Only the embedding lookup and the int->float cast of
    the ids stay outside XNNPACK. ``text`` itself is not changed.
    """
    text = copy.deepcopy(text).eval()
    for block in text.blocks:
        block.norm1, block.norm2 = DecomposedLayerNorm(block.norm1), DecomposedLayerNorm(block.norm2)
        block.conv = block.conv.frozen()
    text.ln_final = DecomposedLayerNorm(text.ln_final)
    n, kw = text.context_length, {"device": text.positional_embedding.device}
    ones = torch.ones(n, n, **kw)
    text.register_buffer("strictly_before", ones.triu(1), persistent=False)
    text.register_buffer("ones_column", torch.ones(n, 1, **kw), persistent=False)
    text.register_buffer("output_averager", _averager(text.projection.out_features, text.positional_embedding),
                         persistent=False)
    text.register_buffer("first_position", F.one_hot(torch.tensor([0], **kw), n).float(), persistent=False)
    text.register_buffer("causal_bias", torch.zeros(n, n, **kw).masked_fill(ones.tril() == 0, float("-inf")),
                         persistent=False)
    text.delegate_friendly = True
    return text


# LiteRT names every tensor of a .tflite file after the Python path of the module classes it passes through
# (".../mobileclip.lite_transformer.LSRABlock_..."). The classes keep the path they were first exported under,
# so that moving the code into mobileclip/models/ leaves exported files byte-identical.
for _cls in (LightweightConv, FrozenLightweightConv, DynamicConv, SlicedDynamicConv, DecomposedLayerNorm, SelfAttention,
             LSRABlock, LiteTransformerText):
    _cls.__module__ = "mobileclip.lite_transformer"
del _cls
