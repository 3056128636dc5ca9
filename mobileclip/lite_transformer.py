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

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, L, C)
        w = F.softmax(self.weight, dim=-1)
        w = F.dropout(w, self.weight_dropout, self.training)  # DropConnect on the kernel
        w = w.repeat_interleave(self.channels // self.heads, dim=0).unsqueeze(1)  # (C, 1, K)
        y = F.conv1d(F.pad(x.transpose(1, 2), self._padding()), w, groups=self.channels)
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


class SelfAttention(nn.Module):
    """Multi-head self-attention written out (export-friendly), boolean mask of allowed keys."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c // self.heads))
        scores = scores.masked_fill(~allowed, float("-inf"))
        attn = F.dropout(scores.softmax(-1), self.dropout, self.training)
        return self.out((attn @ v).transpose(1, 2).reshape(b, length, c))


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

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        global_branch = self.attn(h[..., : self.half], allowed)
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
        eot = self.eot_positions(ids)
        pos = torch.arange(length, device=ids.device)
        keep_bool = pos.unsqueeze(0) <= eot.unsqueeze(1)  # (B, L): text, not padding
        allowed = keep_bool.unsqueeze(1).unsqueeze(1)  # (B, 1, 1, L) keys
        if self.causal:
            allowed = allowed & self.causal_mask[:length, :length]
        keep = keep_bool.unsqueeze(-1).to(self.positional_embedding.dtype)
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        for block in self.blocks:
            x = block(x, allowed, keep)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0], device=x.device), eot]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.forward_features(ids)), dim=-1)
