"""The π-Spiral family: a non-periodic rotary from irrational constants, a RoPE→π-Spiral hybrid,
and an attractor state (a causal, fixed-size summary injected into attention or the residual stream).

Modules: `phases` (exact angle arithmetic, numpy), `rotary` (the rotary modules), `attractor` (the
vectorised scan and O(1) streaming step), `inject` (hooks into HF models), `encodings` (the spec
registrations; torch-free). Formulas: docs/pi_spiral.md.
"""
