"""Prefix tuning (Li & Liang 2021) and P-tuning v2 (Liu et al. 2022): every attention layer of a
frozen encoder gets `num_tokens` trainable key and value vectors of its own, attended to by every
real token. Unlike `deep`, nothing is added to the sequence: queries and feed-forward layers
see the real tokens only, and the key/value prefixes are free vectors, not projections of
prompt states.

The prefixes enter through the attention layers' key/value cache, the same route PEFT's prefix
tuning takes: the cache's `update` returns [prefix; keys] and [prefix; values] for each layer.
With `reparameterize: true` an MLP produces the prefixes while training (prefix tuning); the
export stores its output as plain prefixes (`fold`), which P-tuning v2 trains directly."""

from xprompt.methods import MethodSpec
from xprompt.methods.prefix.config import PrefixConfig

SPEC = MethodSpec(
    PrefixConfig, "xprompt.methods.prefix.model:build_prefix",
    "free key/value prefixes in every attention layer (prefix tuning / P-tuning v2)",
    "Li & Liang, ACL 2021; Liu et al., ACL 2022 (P-tuning v2)",
    "layers x num_tokens x 2 x hidden prefix values (or their MLP while training) and the head or "
    "label vectors; the encoder is frozen")
