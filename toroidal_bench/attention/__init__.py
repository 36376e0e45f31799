"""Attention kernels tbench registers with transformers' AttentionInterface (and the paired mask)."""
